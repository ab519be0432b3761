"""Lessons are files a teacher writes: ``lessons/<id>.toml`` (+ ``lessons/<id>.py``, the starter code)
and ``solutions/<id>.py``. Loading validates every field; a broken lesson yields an error that names the
file and the field, and the other lessons still load. The format is described in docs/authoring.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutor import settings

SCHEMA_VERSION = 1
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
DEFAULT_TIME_S = 120.0
DEFAULT_SOLUTION_AFTER = 3  # real attempts (not runs of the unchanged starter) before the solution opens


class LessonError(Exception):
    """A lesson file is invalid: names the file and the field."""

    def __init__(self, path: Path, field_name: str, problem: str) -> None:
        super().__init__(f"{path}: field '{field_name}': {problem}")
        self.path = path
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class CheckSpec:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    message: str | None = None  # replaces the default message when the check fails
    passed_message: str | None = None


@dataclass(frozen=True)
class CaseFile:
    name: str
    content: str | None = None  # literal text (e.g. a corrupt model file)
    copy: Path | None = None  # a file shipped with the lessons
    generate: Path | None = None  # a script that writes the file into its working folder


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
    line: int | None = None
    name: str | None = None
    case: str | None = None


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
class Lesson:
    id: str
    title: str
    summary: str
    order: int
    explanation: str
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
    seen: dict[str, Path] = {}
    for path in sorted(lessons_dir.glob("*.toml")):
        try:
            lesson = load_lesson(path, solutions_dir)
            if lesson.id in seen:
                raise LessonError(path, "id", f"'{lesson.id}' is already used by {seen[lesson.id].name}")
        except LessonError as exc:
            errors.append(exc)
            continue
        seen[lesson.id] = path
        lessons.append(lesson)
    lessons.sort(key=lambda lesson: (lesson.order, lesson.id))
    return LessonSet(lessons, errors)


def load_lesson(path: Path, solutions_dir: Path | None = None) -> Lesson:
    solutions_dir = solutions_dir or settings.solutions_dir()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(path, "(syntax)", f"not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LessonError(path, "(file)", f"cannot be read: {exc}") from None
    reader = _Reader(path, data)
    version = reader.integer("schema_version")
    if version != SCHEMA_VERSION:
        raise LessonError(path, "schema_version", f"is {version}; this version of the app reads {SCHEMA_VERSION}")
    lesson_id = reader.text("id")
    if not ID_PATTERN.match(lesson_id):
        raise LessonError(path, "id", f"{lesson_id!r} must be lowercase words joined by '-' (used in URLs)")
    if path.stem != lesson_id:
        raise LessonError(path, "id", f"{lesson_id!r} must match the file name ({path.stem}.toml)")
    starter_file = path.parent / reader.text("starter_file", default=f"{lesson_id}.py")
    solution_file = solutions_dir / reader.text("solution_file", default=f"{lesson_id}.py")
    checks = tuple(_check(path, f"checks[{i}]", item) for i, item in enumerate(reader.tables("checks")))
    if not checks:
        raise LessonError(path, "checks", "a lesson needs at least one check")
    cases = tuple(_case(path, i, item) for i, item in enumerate(reader.tables("cases", required=False)))
    cases = cases or (Case(id="default", title="Your program"),)
    _unique(path, "cases", [case.id for case in cases])
    expect = _expectation(path, reader.table("starter_fails_with"), {case.id for case in cases})
    limits = _Reader(path, reader.table("limits", required=False), "limits")
    time_s = limits.number("time_s", default=DEFAULT_TIME_S)
    if not 1 <= time_s <= 1800:
        raise LessonError(path, "limits.time_s", f"is {time_s}; use 1 to 1800 seconds")
    wrong = tuple(_wrong(path, i, item) for i, item in enumerate(reader.tables("wrong", required=False)))
    _unique(path, "wrong", [variant["id"] for variant in wrong])
    claims = tuple(_claim(path, i, item) for i, item in enumerate(reader.tables("claims", required=False)))
    _unique(path, "claims", [claim.id for claim in claims])
    hints = tuple(reader.texts("hints"))
    if not hints:
        raise LessonError(path, "hints", "give at least one hint")
    solution_after = reader.integer("solution_after_attempts", default=DEFAULT_SOLUTION_AFTER)
    if not 1 <= solution_after <= 100:
        raise LessonError(path, "solution_after_attempts", f"is {solution_after}; use 1 to 100")
    return Lesson(
        id=lesson_id,
        title=reader.text("title"),
        summary=reader.text("summary"),
        order=reader.integer("order", default=100),
        explanation=reader.text("explanation"),
        starter=_read_code(path, "starter_file", starter_file),
        solution=_read_code(path, "solution_file", solution_file),
        hints=hints,
        checks=checks,
        cases=cases,
        time_s=float(time_s),
        expect=expect,
        wrong=tuple(_resolve_wrong(path, variant, starter_file, solution_file) for variant in wrong),
        claims=claims,
        model_name=reader.text("model_name", default="model"),
        path=path,
        solution_after=solution_after,
    )


class _Reader:
    """Typed access to one TOML table; every problem becomes a LessonError naming the field."""

    def __init__(self, path: Path, data: dict[str, Any], prefix: str = "") -> None:
        self.path = path
        self.data = data
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, kinds: tuple[type, ...], label: str, default: Any = ..., required: bool = True):
        if key not in self.data:
            if default is not ...:
                return default
            if not required:
                return None
            raise LessonError(self.path, self.name(key), "is missing")
        value = self.data[key]
        if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
            raise LessonError(self.path, self.name(key), f"must be {label}, not {type(value).__name__}")
        return value

    def text(self, key: str, default: Any = ...) -> str:
        value = self.get(key, (str,), "a string", default)
        if not value.strip():
            raise LessonError(self.path, self.name(key), "must not be empty")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.get(key, (str,), "a string", default=None)

    def integer(self, key: str, default: Any = ...) -> int:
        return self.get(key, (int,), "an integer", default)

    def number(self, key: str, default: Any = ...) -> float:
        return float(self.get(key, (int, float), "a number", default))

    def texts(self, key: str) -> list[str]:
        values = self.get(key, (list,), "a list of strings", default=[])
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise LessonError(self.path, f"{self.name(key)}[{i}]", "must be a non-empty string")
        return values

    def table(self, key: str, required: bool = True) -> dict[str, Any]:
        return self.get(key, (dict,), "a table", default=... if required else {})

    def tables(self, key: str, required: bool = True) -> list[dict[str, Any]]:
        values = self.get(key, (list,), "an array of tables ([[...]])", default=... if required else [])
        for i, value in enumerate(values):
            if not isinstance(value, dict):
                raise LessonError(self.path, f"{self.name(key)}[{i}]", "must be a table")
        return values


def _check(path: Path, where: str, data: dict[str, Any]) -> CheckSpec:
    from tutor.checks import known_check_kinds, validate_params  # checks import lessons' types

    reader = _Reader(path, data, where)
    kind = reader.text("kind")
    if kind not in known_check_kinds():
        raise LessonError(path, f"{where}.kind", f"unknown check {kind!r}; known: {', '.join(known_check_kinds())}")
    params = {k: v for k, v in data.items() if k not in ("kind", "message", "passed_message")}
    problem = validate_params(kind, params)
    if problem:
        raise LessonError(path, where, problem)
    return CheckSpec(kind, params, reader.optional_text("message"), reader.optional_text("passed_message"))


def _case(path: Path, index: int, data: dict[str, Any]) -> Case:
    where = f"cases[{index}]"
    reader = _Reader(path, data, where)
    case_id = reader.text("id")
    if not ID_PATTERN.match(case_id):
        raise LessonError(path, f"{where}.id", f"{case_id!r} must be lowercase words joined by '-'")
    files = tuple(_case_file(path, f"{where}.files[{i}]", item) for i, item in enumerate(reader.tables("files", False)))
    checks = tuple(_check(path, f"{where}.checks[{i}]", item) for i, item in enumerate(reader.tables("checks", False)))
    return Case(case_id, reader.text("title", default=case_id), files, checks)


def _case_file(path: Path, where: str, data: dict[str, Any]) -> CaseFile:
    reader = _Reader(path, data, where)
    name = reader.text("name")
    if not FILE_NAME_PATTERN.match(name) or name == "main.py":
        raise LessonError(path, f"{where}.name", f"{name!r} must be a plain file name (not main.py)")
    sources = [key for key in ("content", "copy", "generate") if key in data]
    if len(sources) != 1:
        raise LessonError(path, where, "give exactly one of 'content', 'copy' or 'generate'")
    if "content" in data:
        return CaseFile(name, content=reader.get("content", (str,), "a string"))
    key = sources[0]
    target = (path.parent / reader.text(key)).resolve()
    if not target.is_file():
        raise LessonError(path, f"{where}.{key}", f"file {target} does not exist")
    return CaseFile(name, **{key: target})


def _expectation(path: Path, data: dict[str, Any], case_ids: set[str]) -> Expectation:
    reader = _Reader(path, data, "starter_fails_with")
    case = reader.optional_text("case")
    if case is not None and case not in case_ids:
        raise LessonError(path, "starter_fails_with.case", f"no case with id {case!r}")
    line = reader.get("line", (int,), "an integer", default=None)
    return Expectation(reader.text("error"), line, reader.optional_text("name"), case)


def _wrong(path: Path, index: int, data: dict[str, Any]) -> dict[str, Any]:
    where = f"wrong[{index}]"
    reader = _Reader(path, data, where)
    base = reader.text("base", default="solution")
    if base not in ("solution", "starter"):
        raise LessonError(path, f"{where}.base", "must be 'solution' or 'starter'")
    replace = reader.get("replace", (list,), "a list of [old, new] pairs", default=[])
    for i, pair in enumerate(replace):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
            raise LessonError(path, f"{where}.replace[{i}]", "must be a pair of strings [old, new]")
    code = reader.get("code", (str,), "a string", default=None)
    if (code is None) == (not replace):
        raise LessonError(path, where, "give either 'code' or 'replace' (changes to the base code)")
    fails = reader.texts("fails")
    return {
        "where": where,
        "id": reader.text("id"),
        "description": reader.text("description"),
        "base": base,
        "replace": replace,
        "code": code,
        "fails": tuple(fails),
    }


def _resolve_wrong(path: Path, data: dict[str, Any], starter_file: Path, solution_file: Path) -> WrongVariant:
    if data["code"] is not None:
        return WrongVariant(data["id"], data["description"], data["code"], data["fails"])
    base_file = solution_file if data["base"] == "solution" else starter_file
    code = base_file.read_text(encoding="utf-8") if base_file.is_file() else ""
    for i, (old, new) in enumerate(data["replace"]):
        if old not in code:
            raise LessonError(path, f"{data['where']}.replace[{i}]", f"text {old!r} is not in {base_file.name}")
        code = code.replace(old, new, 1)
    return WrongVariant(data["id"], data["description"], code, data["fails"])


def _claim(path: Path, index: int, data: dict[str, Any]) -> Claim:
    where = f"claims[{index}]"
    reader = _Reader(path, data, where)
    files = tuple(_case_file(path, f"{where}.files[{i}]", item) for i, item in enumerate(reader.tables("files", False)))
    return Claim(
        id=reader.text("id"),
        statement=reader.text("statement"),
        code=reader.text("code"),
        expect_error=reader.optional_text("expect_error"),
        expect_message=reader.optional_text("expect_message"),
        expect_output=reader.optional_text("expect_output"),
        files=files,
    )


def _read_code(path: Path, field_name: str, code_file: Path) -> str:
    try:
        return code_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LessonError(path, field_name, f"cannot read {code_file}: {exc}") from None


def _unique(path: Path, field_name: str, ids: list[str]) -> None:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise LessonError(path, field_name, f"ids must be unique; repeated: {', '.join(duplicates)}")
