"""Lessons are files a teacher writes: ``lessons/<id>.toml`` (+ ``lessons/<id>.py``, the starter code)
and ``solutions/<id>.py``. Loading validates every field against the schema (tutor.lessons.schema) and
then what the schema alone cannot know: the files it names, the id against the file name, the
``replace`` pairs against the code. A broken lesson yields an error that names the file and every field
at fault, and the other lessons still load. A notebook lesson (``kind = "notebook"``) is the same three
files, its code in ``# %%`` cells (tutor.lessons.cells), with its session and failing cell checked by
tutor.lessons.notebook. A project lesson (``kind = "project"``) keeps its modules in the same starter and
solution files, each after a ``# ==> name.py <==`` header (tutor.lessons.project). The format is described in
docs/authoring.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor import settings
from tutor.checks.kinds import CheckSpec
from tutor.lessons.causes import NameCause, frequency_rank
from tutor.lessons.cells import Cell, parse_cells
from tutor.lessons.kinds import FileRole, LessonKind
from tutor.lessons.notebook import NotebookSpec, notebook_problems
from tutor.lessons.project import Module, ProjectSpec, parse_modules, project_problems
from tutor.lessons.schema import (
    DEFAULT_SOLUTION_AFTER,
    CaseFileTable,
    LessonFile,
    WrongTable,
    validate_lesson_data,
)


class LessonError(Exception):
    """A lesson file is invalid: names the file and the field (the first of ``problems``, which lists
    every field at fault as (field, problem) pairs)."""

    def __init__(self, path: Path, field_name: str, problem: str, more: Sequence[tuple[str, str]] = ()) -> None:
        self.problems = [(field_name, problem), *more]
        super().__init__("\n".join(f"{path}: field '{name}': {text}" for name, text in self.problems))
        self.path = path
        self.field = field_name
        self.problem = problem

    @classmethod
    def of(cls, path: Path, problems: Sequence[tuple[str, str]]) -> LessonError:
        return cls(path, problems[0][0], problems[0][1], problems[1:])


@dataclass(frozen=True)
class CaseFile:
    name: str
    content: str | None = None  # literal text (e.g. a corrupt model file)
    copy: Path | None = None  # a file shipped with the lessons
    generate: Path | None = None  # a script that writes the file into its working folder
    lesson_path: Path | None = None  # where it is declared, for errors about it (e.g. a failing fixture)
    where: str = ""  # its field path there, e.g. cases[0].files[1]


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    files: tuple[CaseFile, ...] = ()
    checks: tuple[CheckSpec, ...] = ()


@dataclass(frozen=True)
class Expectation:
    """How the starter code must fail (proved by check-lessons)."""

    error: str
    line: int | None = None  # in a notebook lesson: the line within ``cell``
    name: str | None = None
    case: str | None = None
    cell: int | None = None  # notebook lessons: the code cell (1-based, among code cells) the error is in
    file: str | None = None  # project lessons: the module the error is in (``line`` counts within it)


@dataclass(frozen=True)
class WrongVariant:
    id: str
    description: str
    code: str
    fails: tuple[str, ...] = ()  # check kinds that must fail (empty: the verdict must just fail)


@dataclass(frozen=True)
class Claim:
    """A statement the lesson makes about Keras, with code that proves it on the installed version."""

    id: str
    statement: str
    code: str
    expect_error: str | None = None  # None: the code must run without error
    expect_message: str | None = None
    expect_output: str | None = None
    files: tuple[CaseFile, ...] = ()


@dataclass(frozen=True)
class SourceFile:
    """A code file the lesson was read from. A list of them, with roles, leaves room for a project lesson's
    several starter modules."""

    role: FileRole
    path: Path


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    summary: str
    order: int
    explanation: str  # shown before the first run: the task and what to look for (never the fix)
    why: str  # shown with the first failing verdict: why the name is missing
    starter: str
    solution: str
    hints: tuple[str, ...]
    checks: tuple[CheckSpec, ...]
    cases: tuple[Case, ...]
    time_s: float
    expect: Expectation
    wrong: tuple[WrongVariant, ...] = ()
    claims: tuple[Claim, ...] = ()
    model_name: str = "model"
    path: Path | None = None
    solution_after: int = DEFAULT_SOLUTION_AFTER  # real attempts before the solution opens by itself
    kind: LessonKind = LessonKind.SCRIPT
    notebook: NotebookSpec | None = None  # a notebook lesson's session (None for a script)
    sources: tuple[SourceFile, ...] = ()  # the starter and solution files (none for a lesson built in code)
    project: ProjectSpec | None = None  # a project lesson's modules and entry (None for the other kinds)
    cause: NameCause | None = None  # why the starter's name is missing (proved by check-lessons)

    @property
    def starter_cells(self) -> list[Cell]:
        """The starter's cells (a notebook lesson's; a script reads as one code cell)."""
        return parse_cells(self.starter)

    @property
    def solution_cells(self) -> list[Cell]:
        return parse_cells(self.solution)

    @property
    def starter_modules(self) -> list[Module]:
        """A project lesson's starter modules (another kind's starter reads as one nameless module)."""
        return parse_modules(self.starter)

    def checks_for(self, case: Case) -> tuple[CheckSpec, ...]:
        return self.checks + case.checks


@dataclass
class LessonSet:
    lessons: list[Lesson]
    errors: list[LessonError]

    def get(self, lesson_id: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)


def load_lessons(lessons_dir: Path | None = None, solutions_dir: Path | None = None) -> LessonSet:
    lessons_dir = lessons_dir or settings.lessons_dir()
    solutions_dir = solutions_dir or settings.solutions_dir()
    lessons: list[Lesson] = []
    errors: list[LessonError] = []
    for path in sorted(lessons_dir.glob("*.toml")):
        try:
            lessons.append(load_lesson(path, solutions_dir))
        except LessonError as exc:
            errors.append(exc)
    # Ids are unique: each must match its own file name (a second file claiming an id is told so).
    lessons.sort(key=lesson_rank)
    return LessonSet(lessons, errors)


def lesson_rank(lesson: Lesson) -> tuple[int, int, str]:
    """Where a lesson stands in the list: the causes people meet most often first (a lesson's declared
    ``cause``, tutor.lessons.causes.CAUSES_BY_FREQUENCY), then its ``order``, then its id."""
    return frequency_rank(lesson.cause), lesson.order, lesson.id


def load_lesson(path: Path, solutions_dir: Path | None = None) -> Lesson:
    solutions_dir = solutions_dir or settings.solutions_dir()
    data = read_lesson_toml(path)
    model, problems = validate_lesson_data(data)
    if model is None:
        raise LessonError.of(path, problems)
    problems = _cross_check(path, model)
    starter_file = path.parent / (model.starter_file or f"{model.id}.py")
    solution_file = solutions_dir / (model.solution_file or f"{model.id}.py")
    starter = _read_code(path, "starter_file", starter_file, problems)
    solution = _read_code(path, "solution_file", solution_file, problems)
    cases = tuple(
        Case(
            case.id,
            case.title or case.id,
            _files(path, f"cases[{i}]", case.files, problems),
            tuple(_check(check) for check in case.checks),
        )
        for i, case in enumerate(model.cases)
    ) or (Case(id="default", title="Your program"),)
    claims = tuple(
        Claim(
            id=claim.id,
            statement=claim.statement,
            code=claim.code,
            expect_error=claim.expect_error,
            expect_message=claim.expect_message,
            expect_output=claim.expect_output,
            files=_files(path, f"claims[{i}]", claim.files, problems),
        )
        for i, claim in enumerate(model.claims)
    )
    bases = {"solution": solution or "", "starter": starter or ""}
    wrong = tuple(_wrong(path, i, variant, bases, problems) for i, variant in enumerate(model.wrong))
    notebook, notebook_faults = notebook_problems(model, starter, solution)
    project, project_faults = project_problems(model, starter, solution)
    problems += notebook_faults + project_faults
    if problems:
        raise LessonError.of(path, problems)
    expect = model.starter_fails_with
    return Lesson(
        id=model.id,
        title=model.title,
        summary=model.summary,
        order=model.order,
        explanation=model.explanation,
        why=model.why,
        starter=starter or "",
        solution=solution or "",
        hints=tuple(model.hints),
        checks=tuple(_check(check) for check in model.checks),
        cases=cases,
        time_s=float(model.limits.time_s),
        expect=Expectation(expect.error, expect.line, expect.name, expect.case, expect.cell, expect.file),
        wrong=wrong,
        claims=claims,
        model_name=model.model_name,
        path=path,
        solution_after=model.solution_after_attempts,
        kind=model.kind,
        notebook=notebook,
        project=project,
        cause=model.cause,
        sources=(SourceFile(FileRole.STARTER, starter_file), SourceFile(FileRole.SOLUTION, solution_file)),
    )


def read_lesson_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML; a file that cannot be read, is not UTF-8 or is not TOML is a LessonError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LessonError(path, "(file)", f"cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LessonError(
            path,
            "(encoding)",
            f"is not UTF-8: byte 0x{raw[exc.start]:02x} on line {line}, column {column}. "
            "Save the file as UTF-8 (most editors: 'Save with encoding').",
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(path, "(syntax)", f"not valid TOML: {exc}") from None


def _cross_check(path: Path, model: LessonFile) -> list[tuple[str, str]]:
    """What the schema cannot see on its own: ids against the file name and each other, references."""
    problems: list[tuple[str, str]] = []
    if model.id != path.stem:
        owner = path.parent / f"{model.id}.toml"
        if owner.is_file():
            problems.append(
                ("id", f"'{model.id}' is already used by {owner.name}; this file's id must be '{path.stem}'")
            )
        else:
            problems.append(
                ("id", f"'{model.id}' must match the file name: rename the file or write id = '{path.stem}'")
            )
    for name, items in (("cases", model.cases), ("wrong", model.wrong), ("claims", model.claims)):
        ids = [item.id for item in items]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            problems.append((name, f"ids must be unique; repeated: {', '.join(repeated)}"))
    case = model.starter_fails_with.case
    if case is not None and case not in {c.id for c in model.cases} | ({"default"} if not model.cases else set()):
        problems.append(("starter_fails_with.case", f"no case with id '{case}'"))
    kinds = {check.kind for check in model.checks} | {c.kind for case in model.cases for c in case.checks}
    for i, variant in enumerate(model.wrong):
        for j, kind in enumerate(variant.fails):
            if kind not in kinds:
                problems.append((f"wrong[{i}].fails[{j}]", f"'{kind}' is not one of this lesson's checks"))
    return problems


def _check(check: Any) -> CheckSpec:
    return CheckSpec(check.kind, check.params(), check.message, check.passed_message)


def _files(path: Path, where: str, files: list[CaseFileTable], problems: list[tuple[str, str]]) -> tuple[CaseFile, ...]:
    result = []
    for i, item in enumerate(files):
        at = f"{where}.files[{i}]"
        if item.content is not None:
            result.append(CaseFile(item.name, content=item.content, lesson_path=path, where=at))
            continue
        key, value = ("copy", item.copy_) if item.copy_ is not None else ("generate", item.generate)
        target = (path.parent / str(value)).resolve()
        if not target.is_file():
            problems.append((f"{at}.{key}", f"file {target} does not exist"))
        result.append(CaseFile(item.name, lesson_path=path, where=at, **{key: target}))
    return tuple(result)


def _wrong(
    path: Path, index: int, variant: WrongTable, bases: dict[str, str], problems: list[tuple[str, str]]
) -> WrongVariant:
    code = variant.code
    if code is None:
        code = bases[variant.base]
        for i, (old, new) in enumerate(variant.replace):
            if old not in code:
                name = "the solution" if variant.base == "solution" else "the starter"
                problems.append((f"wrong[{index}].replace[{i}]", f"text {old!r} is not in {name}"))
                continue
            code = code.replace(old, new, 1)
    return WrongVariant(variant.id, variant.description, code, tuple(variant.fails))


def _read_code(path: Path, field_name: str, code_file: Path, problems: list[tuple[str, str]]) -> str | None:
    try:
        return code_file.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append((field_name, f"cannot read {code_file}: {exc.strerror}"))
    except UnicodeDecodeError:
        problems.append((field_name, f"{code_file} is not UTF-8: save it as UTF-8"))
    return None
