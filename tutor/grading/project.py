"""A project lesson's run, from its one text to the sandbox and back: the entry module becomes the program, the
other modules files beside it (importable); afterwards the error is placed in its module ("model_def.py,
line 7"), explained from that module's source, and across modules when another module makes the name
(tutor.grading.modules)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from tutor.checks.judge import CheckResult
from tutor.grading.diagnosis import diagnose_result
from tutor.grading.modules import explain_across_modules
from tutor.lessons.causes import NameCause
from tutor.lessons.lesson import Lesson
from tutor.lessons.project import module_sources
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import RunResult

LINE_WORDS = re.compile(r"\b(on |at )?([Ll])ine (\d+)\b(?! of )")


@dataclass(frozen=True)
class ProjectProgram:
    entry: str  # the module run as the program
    program: str  # its text
    modules: dict[str, bytes]  # the other modules, as files beside it
    sources: dict[str, str]  # every module's text, by name


def project_program(lesson: Lesson, text: str) -> ProjectProgram:
    """What runs for a project text. A text that lost its entry module runs a program that says so."""
    assert lesson.project is not None  # loading guarantees it for a project lesson
    entry = lesson.project.entry
    sources = module_sources(text)
    program = sources.get(entry)
    if program is None:
        program = f"raise SystemExit('This project has no module {entry}: it is the one that runs.')\n"
    others = {name: source.encode("utf-8") for name, source in sources.items() if name != entry}
    return ProjectProgram(entry, program, others, sources)


def error_module(result: RunResult, project: ProjectProgram) -> str:
    """The module the run's error is in: the one the sandbox named, when it is one of the project's."""
    named = result.error.file if result.error is not None else None
    return named if named in project.modules else project.entry


def diagnose_project(result: RunResult, project: ProjectProgram, limits: Limits) -> None:
    """The error explained from its own module's source, then across modules; every line it names placed in
    its module (``ErrorInfo.place``, a binding's ``place``)."""
    where = error_module(result, project)
    if result.error is not None:
        result.error.file = where  # said for the entry too: a page marks the line in that module's editor
    diagnose_result(result, project.sources.get(where, ""), limits)
    error = result.error
    own_cause = (error.analysis or {}).get("cause") if error is not None else None
    # Across modules only where the module's own source has no better word (a result not kept, a name spelled
    # otherwise... are told from the module alone, and truly).
    if error is not None and error.is_name_error and error.name and own_cause == NameCause.NEVER_ASSIGNED:
        across = explain_across_modules(project.sources, where, error.name)
        if across is not None:
            across["line"] = error.line
            error.analysis = across
    for item in [error, *result.caught]:
        if item is None or not item.line:
            continue
        module = where if item is error else project.entry  # only the program's own excepts are watched
        item.place = f"line {item.line} of {module}"
        for binding in (item.analysis or {}).get("bindings") or []:
            binding.setdefault("place", f"line {binding.get('line')} of {module}")


def in_module_words(checks: list[CheckResult], result: RunResult, project: ProjectProgram) -> list[CheckResult]:
    """Lines in the checks' messages said with their module: the error's line in its module, others in the
    program's ("on line 12" becomes "on line 12 of train.py")."""
    error_line = result.error.line if result.error is not None else None
    where = error_module(result, project)

    def relabel(match: re.Match[str]) -> str:
        number = int(match.group(3))
        module = where if number == error_line else project.entry
        return f"{match.group(0)} of {module}"

    return [dataclasses.replace(check, message=LINE_WORDS.sub(relabel, check.message)) for check in checks]
