"""Grade a learner's program against a lesson: run every case in the sandbox, apply the checks."""

from __future__ import annotations

import dataclasses
import re
import threading

from tutor.checks.judge import SOURCE_ERRORS, STOPPED, CheckResult, CheckStatus, run_checks, stop_reason
from tutor.grading.diagnosis import diagnose_result
from tutor.grading.project import diagnose_project, in_module_words, project_program
from tutor.grading.verdict import CaseVerdict, GraderError, Verdict
from tutor.lessons.cells import Cell, locate_line, parse_cells, runnable_script
from tutor.lessons.fixtures import generate_fixture
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import Case, CaseFile, Lesson, LessonError
from tutor.sandbox.isolation import Limits
from tutor.sandbox.protocol import EventType
from tutor.sandbox.results import RunResult
from tutor.sandbox.runner import EventCallback, RunRequest, WarmPoolLike, run_program

PREDICT_SAMPLES = 16


def grade_source(
    lesson: Lesson,
    source: str | bytes,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    limits: Limits | None = None,
    pool: WarmPoolLike | None = None,
) -> Verdict:
    """Run ``source`` on every case of ``lesson`` and judge it. Learner errors are in the checks;
    problems of the grader itself are in ``grader_error`` and the verdict does not pass."""
    limits = limits or Limits(wall_s=lesson.time_s)
    attempt = is_real_attempt(lesson, source)
    if is_empty(source):
        return Verdict(lesson.id, False, [], attempt=False, empty=True)
    cases: list[CaseVerdict] = []
    all_checks: list[CheckResult] = []
    grader_error = None
    skip_reason: str | None = None
    for case in lesson.cases:
        if skip_reason is not None or (cancel is not None and cancel.is_set()):
            reason = skip_reason or STOPPED
            checks = [
                CheckResult(spec.kind, False, reason, case.id, CheckStatus.NOT_REACHED)
                for spec in lesson.checks_for(case)
            ]
            cases.append(CaseVerdict(case.id, case.title, False, checks, None))
            all_checks += checks
            continue
        if on_event is not None:
            on_event({"type": EventType.CASE, "case": case.id, "title": case.title})
        try:
            files = prepare_case_files(case.files, limits)
        except GraderError as exc:
            grader_error = str(exc)
            break
        program = source
        notebook = lesson.kind is LessonKind.NOTEBOOK
        project = None
        request = RunRequest(program, files, limits, model_name=lesson.model_name, predict_samples=PREDICT_SAMPLES)
        if notebook:
            source = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
            # Restart & Run All: the cells top to bottom in one fresh process; IPython-only lines (%magic,
            # !shell) become no-ops of the same length, so line numbers still map to cells.
            request.source = program = runnable_script(source)
        elif lesson.kind is LessonKind.PROJECT:
            source = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
            project = project_program(lesson, source)  # the entry runs; the other modules are files beside it
            request.source, request.program_name = project.program, project.entry
            request.files, request.modules = {**files, **project.modules}, tuple(project.modules)
        result = run_program(request, on_event=on_event, cancel=cancel, pool=pool)
        if project is not None:
            diagnose_project(result, project, limits)
        else:  # why it failed, from the source and limits: teaching, not running
            diagnose_result(result, program, limits)
        if result.termination.is_infrastructure:
            grader_error = result.detail
        checks = run_checks(lesson.checks_for(case), result, lesson.model_name, case.id)
        if notebook:
            cells = parse_cells(str(source))
            checks = in_cell_words(checks, cells)
            place_in_cells(result, cells)
        elif project is not None:
            checks = in_module_words(checks, result, project)
        cases.append(CaseVerdict(case.id, case.title, all(c.passed for c in checks), checks, result))
        all_checks += checks
        if result.error is not None and result.error.type in SOURCE_ERRORS:
            skip_reason = stop_reason(result)
        if grader_error:
            break
    passed = grader_error is None and len(cases) == len(lesson.cases) and all(case.passed for case in cases)
    return Verdict(lesson.id, passed, cases, grader_error, all_checks, attempt=attempt)


LINE_WORDS = re.compile(r"\b(?:(on|at) )?([Ll])ine (\d+)\b")


def cell_words(text: str, cells: list[Cell]) -> str:
    """Lines of a notebook's joined text said as the learner sees them: "Line 32" becomes "Cell 3, line 1"."""

    def relabel(match: re.Match[str]) -> str:
        found = locate_line(cells, int(match.group(3)))
        if found is None:
            return match.group(0)
        cell = "Cell" if match.group(2) == "L" else "cell"
        return f"{'in ' if match.group(1) else ''}{cell} {found[0]}, line {found[1]}"

    return LINE_WORDS.sub(relabel, text)


def in_cell_words(checks: list[CheckResult], cells: list[Cell]) -> list[CheckResult]:
    return [dataclasses.replace(check, message=cell_words(check.message, cells)) for check in checks]


def place_in_cells(result: RunResult, cells: list[Cell]) -> None:
    """The error's (and each caught NameError's) line, its explanation and the lines it names, in cells."""
    for error in [result.error, *result.caught]:
        if error is None:
            continue
        found = locate_line(cells, error.line) if error.line else None
        error.place = f"cell {found[0]}, line {found[1]}" if found else ""
        analysis = error.analysis or {}
        for key in ("summary", "diagnosis", "fix"):
            if isinstance(analysis.get(key), str):
                analysis[key] = cell_words(analysis[key], cells)
        for binding in analysis.get("bindings") or []:
            spot = locate_line(cells, binding.get("line") or 0)
            if spot:
                binding["place"] = f"cell {spot[0]}, line {spot[1]}"


def _normalised(source: str | bytes) -> str:
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def is_empty(source: str | bytes) -> bool:
    return not _normalised(source)


def is_real_attempt(lesson: Lesson, source: str | bytes) -> bool:
    """A run counts as an attempt once the code differs from the starter (spacing aside): running the
    starter as given shows what happens, it is not trying a fix (learntools calls it NotAttempted)."""
    return not is_empty(source) and _normalised(source) != _normalised(lesson.starter)


def prepare_case_files(files: tuple[CaseFile, ...], limits: Limits | None = None) -> dict[str, bytes]:
    """The case's files by name. A fixture script runs in the sandbox under ``limits`` (first use only);
    when it fails, that is a GraderError naming the lesson file and the field."""
    prepared = {}
    for case_file in files:
        if case_file.content is not None:
            prepared[case_file.name] = case_file.content.encode("utf-8")
        elif case_file.copy is not None:
            prepared[case_file.name] = case_file.copy.read_bytes()
        elif case_file.generate is not None:
            try:
                prepared[case_file.name] = generate_fixture(case_file, limits).read_bytes()
            except (LessonError, RuntimeError, OSError) as exc:
                raise GraderError(str(exc)) from exc
    return prepared


def case_by_id(lesson: Lesson, case_id: str | None) -> Case:
    return next((case for case in lesson.cases if case.id == case_id), lesson.cases[0])
