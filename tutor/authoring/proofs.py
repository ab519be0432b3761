"""Lessons prove themselves: every generated fixture is made in the sandbox, the solution passes every
case, the starter fails with the intended error on the intended line, every known-wrong variant fails,
every claim about Keras holds on the Keras installed here, and the text shown before the first run (title,
summary, explanation) teaches before telling: it quotes no line the solution adds or changes (``prove_text``)."""

from __future__ import annotations

import keyword
import re
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tutor.explain.traceback_text import cell_frame_lines, missing_name
from tutor.grading.grade import case_by_id, grade_source, prepare_case_files
from tutor.grading.verdict import GraderError, Verdict
from tutor.kernels.session import RESTART, replay_session
from tutor.lessons.cells import CellKind, code_cells
from tutor.lessons.fixtures import FixtureError, generate_fixture
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import CaseFile, Claim, Lesson
from tutor.lessons.project import parse_modules
from tutor.sandbox.isolation import Limits
from tutor.sandbox.runner import RunRequest, run_program


@dataclass
class Proof:
    lesson: str
    item: str  # fixture:<field>, solution, starter, wrong:<id>, claim:<id>, text
    passed: bool
    detail: str


def prove_lessons(lessons: list[Lesson], jobs: int = 2, report: Callable[[Proof], None] | None = None) -> list[Proof]:
    """Run every proof of every lesson, ``jobs`` sandboxes at a time."""
    tasks: list[tuple[Callable[..., Proof], tuple]] = []
    for lesson in lessons:
        tasks.append((prove_text, (lesson,)))  # no sandbox: reported first
        tasks += [(prove_fixture, (lesson, case_file)) for case_file in generated_files(lesson)]
        tasks.append((prove_solution, (lesson,)))
        tasks.append((prove_starter, (lesson,)))
        tasks += [(prove_wrong, (lesson, variant.id)) for variant in lesson.wrong]
        tasks += [(prove_claim, (lesson, claim)) for claim in lesson.claims]

    def run(task: tuple[Callable[..., Proof], tuple]) -> Proof:
        function, args = task
        try:
            proof = function(*args)
        except Exception as exc:  # a proof that cannot run is a failed proof, with the reason
            proof = Proof(args[0].id, function.__name__, False, f"could not run: {type(exc).__name__}: {exc}")
        if report is not None:
            report(proof)
        return proof

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(run, tasks))


def generated_files(lesson: Lesson) -> list[CaseFile]:
    """Each fixture a lesson generates, once (a file used by several cases or claims is made once)."""
    files = [f for case in lesson.cases for f in case.files] + [f for claim in lesson.claims for f in claim.files]
    unique = {(f.generate, f.name): f for f in reversed(files) if f.generate is not None}
    return list(reversed(unique.values()))


def prove_fixture(lesson: Lesson, case_file: CaseFile) -> Proof:
    """Made first (in the sandbox, cached): a broken fixture script is reported as itself, with its traceback."""
    item = f"fixture:{case_file.where or case_file.name}"
    try:
        path = generate_fixture(case_file, Limits(wall_s=lesson.time_s))
    except FixtureError as exc:
        return Proof(lesson.id, item, False, str(exc))
    size = path.stat().st_size
    return Proof(lesson.id, item, True, f"{case_file.name} ({size:,} bytes) made by {case_file.generate.name}")


def failed_checks(verdict: Verdict) -> str:
    failed = [f"[{c.case}] {c.id}: {c.message}" for c in verdict.checks if not c.passed]
    return "; ".join(failed) or (verdict.grader_error or "")


def prove_solution(lesson: Lesson) -> Proof:
    verdict = grade_source(lesson, lesson.solution)
    if verdict.passed:
        return Proof(
            lesson.id, "solution", True, f"passes all {len(verdict.checks)} checks in {len(verdict.cases)} case(s)"
        )
    return Proof(lesson.id, "solution", False, f"the solution fails: {failed_checks(verdict)}")


def prove_starter(lesson: Lesson) -> Proof:
    if lesson.kind is LessonKind.NOTEBOOK:
        return prove_notebook_starter(lesson)
    verdict = grade_source(lesson, lesson.starter)
    expect = lesson.expect
    case = case_by_id(lesson, expect.case)
    case_verdict = next(c for c in verdict.cases if c.case == case.id)
    error = case_verdict.result.error if case_verdict.result else None
    wanted = (
        f"{expect.error}"
        + (f" for '{expect.name}'" if expect.name else "")
        + (f" on line {expect.line}" if expect.line else "")
    )
    if verdict.passed:
        return Proof(lesson.id, "starter", False, f"the starter passes, but it should fail with {wanted}")
    if error is None:
        return Proof(lesson.id, "starter", False, f"case {case.id}: expected {wanted}, but no error was raised")
    got = f"{error.type}" + (f" for '{error.name}'" if error.name else "") + f" on line {error.line}"
    ok = (
        error.type == expect.error
        and (expect.name is None or error.name == expect.name)
        and (expect.line is None or error.line == expect.line)
    )
    if expect.file is not None:  # a project lesson: the module counts as much as the line
        module = error.file or (lesson.project.entry if lesson.project else None)
        wanted += f" in {expect.file}"
        got += f" in {module}"
        ok = ok and module == expect.file
    cause = (error.analysis or {}).get("cause")
    if lesson.cause is not None:  # the lesson says why the name is missing: the starter's explanation must agree
        wanted += f" (cause {lesson.cause})"
        got += f" (cause {cause or 'none'})"
        ok = ok and cause == lesson.cause
    found = ""
    if expect.line is None and error.line is not None:
        # Nobody counted the line by hand: say which one it was, so the teacher can check it (or pin it).
        found = f" (starter_fails_with.line left out: found line {error.line}; write line = {error.line} to pin it)"
    return Proof(lesson.id, "starter", ok, f"case {case.id}: expected {wanted}, got {got}{found}")


def prove_notebook_starter(lesson: Lesson) -> Proof:
    """A notebook lesson's starter, clicked through its prescribed session on a real kernel (restarts
    included), meets the intended error in the intended cell; and, run top to bottom (Restart & Run All,
    the grading run), it does not pass, so the untouched starter cannot be graded as fixed."""
    assert lesson.notebook is not None  # loading guarantees it for a notebook lesson
    expect = lesson.expect
    cells = [cell.source for cell in code_cells(lesson.starter_cells)]
    steps = [step if isinstance(step, int) else RESTART for step in lesson.notebook.session]
    case = case_by_id(lesson, expect.case)
    files = prepare_case_files(case.files, Limits(wall_s=lesson.time_s))
    replayed = replay_session(cells, steps, Limits(wall_s=lesson.time_s), files=files)
    wanted = f"{expect.error}" + (f" for '{expect.name}'" if expect.name else "") + f" in cell {expect.cell}"
    wanted += f", line {expect.line}" if expect.line else ""
    runs = [step.run for step in replayed if step.run is not None and step.step == expect.cell]
    if not runs:
        return Proof(lesson.id, "starter", False, f"the session never ran cell {expect.cell}; expected {wanted}")
    run = runs[-1]
    error = run.error
    if error is None:
        return Proof(
            lesson.id, "starter", False, f"expected {wanted}, but cell {expect.cell} ran {run.status}: {run.note}"
        )
    name = missing_name(error.text)
    lines = cell_frame_lines(error.traceback, run.execution_count)
    line = lines[-1] if lines else None
    got = f"{error.name}" + (f" for '{name}'" if name else "") + f" in cell {expect.cell}, line {line}"
    ok = (
        error.name == expect.error
        and (expect.name is None or name == expect.name)
        and (expect.line is None or line == expect.line)
    )
    session = ", ".join(str(step) for step in lesson.notebook.session)
    detail = f"session [{session}] on a real kernel: expected {wanted}, got {got}"
    if ok:
        verdict = grade_source(lesson, lesson.starter)
        if verdict.passed:
            return Proof(lesson.id, "starter", False, f"{detail}; but Restart & Run All of the starter passes")
    return Proof(lesson.id, "starter", ok, detail)


def prove_wrong(lesson: Lesson, variant_id: str) -> Proof:
    variant = next(v for v in lesson.wrong if v.id == variant_id)
    item = f"wrong:{variant.id}"
    verdict = grade_source(lesson, variant.code)
    if verdict.passed:
        return Proof(lesson.id, item, False, f"this wrong variant passes: {variant.description}")
    missing = [kind for kind in variant.fails if all(c.passed for c in verdict.checks if c.id == kind)]
    if missing:
        return Proof(lesson.id, item, False, f"fails, but not on {', '.join(missing)}: {failed_checks(verdict)}")
    said = textwrap.shorten(failed_checks(verdict), 300, placeholder=" …")  # cut at a word: the studio shows it
    return Proof(lesson.id, item, True, f"fails as intended: {said}")


def prove_claim(lesson: Lesson, claim: Claim) -> Proof:
    item = f"claim:{claim.id}"
    limits = Limits(wall_s=lesson.time_s)
    try:
        files = prepare_case_files(claim.files, limits)
    except GraderError as exc:
        return Proof(lesson.id, item, False, f"its files could not be made: {exc}")
    # A claim's .py files are modules beside its program, importable as `python main.py` finds them.
    modules = tuple(name for name in files if name.endswith(".py") and name[:-3].isidentifier())
    result = run_program(RunRequest(claim.code, files, limits, modules=modules))
    error = result.error
    problems = []
    if result.termination.is_infrastructure:
        problems.append(result.detail)
    if claim.expect_error is None and error is not None:
        problems.append(f"expected no error, got {error.type}: {error.message}")
    if claim.expect_error is not None:
        if error is None:
            problems.append(f"expected {claim.expect_error}, but no error was raised")
        elif error.type != claim.expect_error:
            problems.append(f"expected {claim.expect_error}, got {error.type}: {error.message}")
        elif claim.expect_message and claim.expect_message not in error.message:
            problems.append(f"{error.type} message {error.message!r} lacks {claim.expect_message!r}")
    if claim.expect_output and claim.expect_output not in result.stdout:
        problems.append(f"output lacks {claim.expect_output!r}: {result.stdout[-300:]!r}")
    detail = "; ".join(problems) or f"holds: {claim.statement}"
    return Proof(lesson.id, item, not problems, detail)


# --- the text before the first run: the task and what to look for, never the fix -------------------------------

BEFORE_THE_RUN = ("title", "summary", "explanation")  # what the learner reads before running anything
PROSE_MIN_TOKENS = 4  # a shorter line (`import keras`) counts only where code is quoted, not inside prose


@dataclass(frozen=True)
class FixLine:
    """A code line the solution adds or changes relative to the starter."""

    text: str  # as in the solution, without its comment
    tokens: tuple[str, ...]
    where: str = ""  # " in train.py", " in cell 3" ("" for a script)


def prove_text(lesson: Lesson) -> Proof:
    """The title, summary and explanation quote no code line the solution adds or changes (whitespace, quotes
    and comments aside; per module in a project, per code cell in a notebook), and ``why`` is not empty."""
    source = str(lesson.path) if lesson.path is not None else lesson.id
    problems = []
    if not lesson.why.strip():
        problems.append(f"{source}: field 'why' is empty: say why the name is missing (shown with the first verdict)")
    lines = fix_lines(lesson)
    for field_name in BEFORE_THE_RUN:
        for line in stated_fix(getattr(lesson, field_name), lines):
            problems.append(
                f"{source}: field '{field_name}' states the fix before the first run: `{line.text}` (a line the "
                f"solution adds or changes{line.where}). Say what to look for; leave the fix to the last hint"
            )
    if problems:
        return Proof(lesson.id, "text", False, "; ".join(problems))
    return Proof(
        lesson.id, "text", True, f"the text before the first run quotes none of the fix's {len(lines)} line(s)"
    )


def fix_lines(lesson: Lesson) -> list[FixLine]:
    """The solution's code lines that the starter does not have: compared module by module (by name) in a
    project, code cell by code cell in a notebook (a cell found by its title, else by its number), so a line
    moved within its module or cell is no fix line, and a line only a comment or a bare keyword (`else:`) is
    none either."""
    if lesson.kind is LessonKind.PROJECT:
        starter = {module.name: module.source for module in parse_modules(lesson.starter)}
        pairs = [
            (module.source, starter.get(module.name, ""), f" in {module.name}")
            for module in parse_modules(lesson.solution)
        ]
    elif lesson.kind is LessonKind.NOTEBOOK:
        starter_cells = code_cells(lesson.starter_cells)
        titles = [cell.title for cell in starter_cells]
        pairs = []
        for cell in lesson.solution_cells:
            if cell.kind is not CellKind.CODE:
                continue
            same = [c for c in starter_cells if cell.title and titles.count(cell.title) == 1 and c.title == cell.title]
            same = same or [c for c in starter_cells if c.number == cell.number]
            pairs.append((cell.source, same[0].source if same else "", f" in cell {cell.number}"))
    else:
        pairs = [(lesson.solution, lesson.starter, "")]
    found: list[FixLine] = []
    for solution, starter, where in pairs:
        before = {_code_tokens(line) for line in starter.splitlines()}
        for line in solution.splitlines():
            tokens = _code_tokens(line)
            if tokens not in before and _telling(tokens) and all(f.tokens != tokens for f in found):
                found.append(FixLine(_without_comment(line).strip(), tokens, where))
    return found


def stated_fix(text: str, lines: list[FixLine]) -> list[FixLine]:
    """The fix lines a Markdown text states: one that a code span or a line of a code block starts with (or has
    after a `;`), or, of four tokens or more, one that its words contain anywhere."""
    fence = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1", flags=re.DOTALL | re.MULTILINE)
    code = [_tokens(line) for match in fence.finditer(text) for line in match.group(2).splitlines()]
    code += [_tokens(match.group(2)) for match in re.finditer(r"(`+)(.+?)\1", fence.sub("", text), flags=re.DOTALL)]
    words = _tokens(text.replace("`", " "))
    stated = []
    for line in lines:
        size = len(line.tokens)
        starts = any(
            segment[i : i + size] == line.tokens
            for segment in code
            for i in range(len(segment))
            if i == 0 or segment[i - 1] == ";"
        )
        inside = size >= PROSE_MIN_TOKENS and any(
            words[i : i + size] == line.tokens for i in range(len(words) - size + 1)
        )
        if starts or inside:
            stated.append(line)
    return stated


def _without_comment(line: str) -> str:
    """The line up to a `#` outside a string literal."""
    quote, escaped = "", False
    for i, char in enumerate(line):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:i]
    return line


def _tokens(text: str) -> tuple[str, ...]:
    """Words and single marks, so that whitespace and the kind of quotes never matter."""
    return tuple(re.findall(r"\w+|[^\w\s]", text.replace("'", '"')))


def _code_tokens(line: str) -> tuple[str, ...]:
    return _tokens(_without_comment(line))


def _telling(tokens: tuple[str, ...]) -> bool:
    """A line that says something: a name or a number beyond Python's keywords (not `else:`, `pass`, `)`)."""
    return any(re.match(r"\w", token) and not keyword.iskeyword(token) for token in tokens)
