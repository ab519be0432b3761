"""The lesson file format, as a strict pydantic schema: every key known, every type as written, every
number in its range, every message template valid on every path of its check.

``validate_lesson_data`` turns pydantic's findings into (field, problem) pairs a teacher can act on:
the field path as in the TOML file (``checks[2].threshold``), "did you mean" for a misspelt key, and
the TOML trap of a top-level key written below a ``[table]`` line. ``lesson_json_schema`` publishes the
same schema as JSON Schema for editors (``python -m tutor schema``).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError, WithJsonSchema, model_validator

from tutor.checks.kinds import StrictModel, check_model_union, known_check_kinds
from tutor.lessons.causes import NameCause
from tutor.lessons.kinds import LessonKind, SessionStep

SCHEMA_VERSION = 1
DEFAULT_TIME_S = 120.0
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
MODULE_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py$")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _lesson_id(value: str) -> str:
    if not ID_PATTERN.match(value):
        raise ValueError(f"{value!r} must be lowercase words joined by '-', e.g. 'keep-the-model' (used in URLs)")
    return value


def _identifier(value: str) -> str:
    if not value.isidentifier():
        raise ValueError(f"{value!r} must be a Python name, e.g. model or NameError")
    return value


def _file_name(value: str) -> str:
    if not FILE_NAME_PATTERN.match(value) or value == "main.py":
        raise ValueError(f"{value!r} must be a plain file name (no folders, not main.py)")
    return value


def _module_name(value: str) -> str:
    if not MODULE_NAME_PATTERN.match(value):
        raise ValueError(f"{value!r} must be a Python module file name, e.g. train.py")
    return value


def _session_step(value: Any) -> int | SessionStep:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value in tuple(SessionStep):
        return SessionStep(value)
    words = " or ".join(f'"{step}"' for step in SessionStep)
    raise ValueError(f"is {_shown(value)}; use a code cell's number (1, 2, ...) or {words} (a fresh kernel)")


def _pattern(pattern: re.Pattern[str]) -> dict[str, Any]:
    return {"pattern": pattern.pattern}


Text = Annotated[str, AfterValidator(_not_blank), Field(json_schema_extra={"minLength": 1})]
LessonId = Annotated[str, AfterValidator(_lesson_id), Field(json_schema_extra=_pattern(ID_PATTERN))]
Identifier = Annotated[str, AfterValidator(_identifier), Field(json_schema_extra={"pattern": r"^[A-Za-z_]\w*$"})]
FileName = Annotated[str, AfterValidator(_file_name), Field(json_schema_extra=_pattern(FILE_NAME_PATTERN))]
ModuleName = Annotated[str, AfterValidator(_module_name), Field(json_schema_extra=_pattern(MODULE_NAME_PATTERN))]
CauseName = Annotated[NameCause, Field(strict=False)]
Pair = Annotated[list[str], Field(min_length=2, max_length=2, description="[old text, new text]")]
SessionItem = Annotated[
    int | SessionStep,
    BeforeValidator(_session_step),  # one clear message, not one per member of the union
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"enum": [str(s) for s in SessionStep]}]}),
]
CheckKindName = Literal[tuple(known_check_kinds())]  # type: ignore[valid-type]
CheckModel = check_model_union()  # every registered check kind's table, told apart by `kind`


class LimitsTable(StrictModel):
    time_s: float = Field(DEFAULT_TIME_S, ge=1, le=1800, description="Wall-clock limit per run, in seconds.")


class StarterFailsWith(StrictModel):
    """How the starter code must fail; check-lessons proves it."""

    error: Identifier = Field(description="The exception's type, e.g. NameError.")
    name: Identifier | None = Field(None, description="For a NameError: the missing name.")
    line: int | None = Field(None, ge=1, description="The line; left out, check-lessons reports the line it found.")
    case: LessonId | None = Field(None, description="The case it fails in (default: the first).")
    cell: int | None = Field(
        None, ge=1, description="Notebook lessons (required there): the code cell it fails in; `line` is in that cell."
    )
    file: ModuleName | None = Field(
        None, description="Project lessons (required there): the module it fails in, e.g. train.py; `line` is in it."
    )


class NotebookTable(StrictModel):
    """A notebook lesson's story: the steps the learner's session took to meet the error."""

    session: list[SessionItem] = Field(
        min_length=1,
        description='Code cell numbers (1 = the first code cell) in the order they ran, and "restart" for a '
        "fresh kernel; the last step is a cell.",
    )


class ProjectTable(StrictModel):
    """A project lesson's program: which of the starter's modules (``# ==> name.py <==``) runs."""

    entry: ModuleName = Field(description="The module run as the program, e.g. train.py (as `python train.py`).")


class CaseFileTable(StrictModel):
    """A file in the program's working folder: give exactly one of content, copy or generate."""

    name: FileName
    content: str | None = Field(None, description="Literal text.")
    copy_: Text | None = Field(None, alias="copy", description="A file beside the lesson, e.g. fixtures/x.bin.")
    generate: Text | None = Field(None, description="A script (run in the sandbox) that writes the file.")

    @model_validator(mode="after")
    def _one_source(self) -> CaseFileTable:
        if sum(value is not None for value in (self.content, self.copy_, self.generate)) != 1:
            raise ValueError("give exactly one of 'content', 'copy' or 'generate'")
        return self


class CaseTable(StrictModel):
    id: LessonId
    title: Text | None = None
    files: list[CaseFileTable] = []
    checks: list[CheckModel] = Field([], description="Extra checks for this case only.")


class WrongTable(StrictModel):
    """A mistake learners make; check-lessons proves that it fails."""

    id: Text
    description: Text
    base: Literal["solution", "starter"] = "solution"
    replace: list[Pair] = Field([], description="Changes to the base code, each [old, new] (first match).")
    code: Text | None = Field(None, description="Or the whole program.")
    fails: list[CheckKindName] = Field([], description="Checks that must be among the failures.")

    @model_validator(mode="after")
    def _code_or_replace(self) -> WrongTable:
        if (self.code is None) == (not self.replace):
            raise ValueError("give either 'code' or 'replace' (changes to the base code)")
        return self


class ClaimTable(StrictModel):
    """A statement the lesson makes about Python or Keras, with code that proves it."""

    id: Text
    statement: Text
    code: Text
    expect_error: Identifier | None = Field(None, description="Left out: the code must run without error.")
    expect_message: Text | None = None
    expect_output: Text | None = None
    files: list[CaseFileTable] = []


DEFAULT_SOLUTION_AFTER = 3  # real attempts before the solution opens (issue 11: teach before telling)


class LessonFile(StrictModel):
    """A lesson: lessons/<id>.toml, with lessons/<id>.py (starter) and solutions/<id>.py."""

    schema_version: Literal[1] = Field(description="This app reads version 1.")
    id: LessonId = Field(description="Must match the file name.")
    kind: LessonKind = Field(
        LessonKind.SCRIPT,
        strict=False,  # the TOML's string is the enum's value
        description="script: one file run top to bottom; notebook: '# %%' cells (percent format), see [notebook]; "
        "project: several modules, each after a line '# ==> name.py <==', see [project].",
    )
    cause: CauseName | None = Field(
        None,
        description="Why the name is missing in the starter, in the app's words (README, 'the causes'); check-lessons "
        "proves the starter's explanation names it; the lesson list is ordered by how often people meet it.",
    )
    order: int = Field(100, ge=0, le=1_000_000, description="Position in the lesson list.")
    title: Text
    summary: Text
    explanation: Text = Field(
        description="Markdown shown above the editor before the first run: the task and what to look for (run it, "
        "read which name is missing and on which line), never the fix; check-lessons proves it quotes no line the "
        "solution adds or changes."
    )
    why: Text = Field(
        description="Markdown shown with the first failing verdict: why the name is missing (the explanation the "
        "learner needs once they have met the error); back its statements with [[claims]]."
    )
    hints: list[Text] = Field(min_length=1, description="Revealed one at a time; 2 or 3 is best.")
    starter_file: Text | None = Field(None, description="Default: <id>.py beside the lesson.")
    solution_file: Text | None = Field(None, description="Default: <id>.py in the solutions folder.")
    model_name: Identifier = Field("model", description="The module-level name the model checks look at.")
    solution_after_attempts: int = Field(
        DEFAULT_SOLUTION_AFTER,
        ge=1,
        le=100,
        description="Real attempts (runs of changed code, not of the starter as given) before the reference "
        "solution opens by itself; using every hint opens it too.",
    )
    limits: LimitsTable = LimitsTable()
    starter_fails_with: StarterFailsWith
    notebook: NotebookTable | None = Field(None, description='Required with kind = "notebook", only there.')
    project: ProjectTable | None = Field(None, description='Required with kind = "project", only there.')
    checks: list[CheckModel] = Field(min_length=1, description="Applied to every case, in order.")
    cases: list[CaseTable] = []
    wrong: list[WrongTable] = []
    claims: list[ClaimTable] = []


def lesson_json_schema() -> dict[str, Any]:
    schema = LessonFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "Tutor lesson (TOML)"}


def validate_lesson_data(data: dict[str, Any]) -> tuple[LessonFile | None, list[tuple[str, str]]]:
    """The parsed lesson, or all its problems as (field path, problem) pairs, in the schema's order."""
    try:
        return LessonFile.model_validate(data), []
    except ValidationError as exc:
        return None, translate_errors(exc.errors(include_url=False))


def translate_errors(errors: list[dict[str, Any]]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    trapped: set[str] = set()  # fields found misspelt or below the wrong [table]: not also "missing"
    for error in errors:
        where = _resolve(error["loc"])
        problem = _describe(error, where, trapped)
        problems.append((where.path, problem))
    return [(path, problem) for path, problem in problems if not (problem == "is missing" and path in trapped)]


class _Where:
    """A pydantic error location, resolved against the schema: the TOML path and the tables on the way."""

    def __init__(self) -> None:
        self.path = ""
        self.tables: list[tuple[type[BaseModel], str, str]] = [(LessonFile, "", "")]  # model, path, [header]
        self.model: type[BaseModel] | None = LessonFile  # the table the last key is in
        self.union: tuple[type[BaseModel], ...] = ()  # a check whose kind is not known yet


def _resolve(loc: tuple[Any, ...]) -> _Where:
    where = _Where()
    current: Any = LessonFile
    keys: list[str] = []
    last_index = False
    for element in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            where.model = current
            fields = _fields(current)
            where.path += f".{element}" if where.path else str(element)
            keys.append(str(element))
            last_index = False
            current = fields.get(element)
        elif typing.get_origin(current) is list and isinstance(element, int):
            where.path += f"[{element}]"
            last_index = True
            current = typing.get_args(current)[0]
            where.union = _models_of(current)
            if len(where.union) == 1:
                current = where.union[0]
        elif where.union and isinstance(element, str):
            current = next((m for m in where.union if _fields(m)["kind"] == Literal[element]), None)
        else:
            current = None
        model = _unwrap(current)
        if isinstance(model, type) and issubclass(model, BaseModel):
            dotted = ".".join(keys)
            where.tables.append((model, where.path, f"[[{dotted}]]" if last_index else f"[{dotted}]"))
    return where


def _unwrap(annotation: Any) -> Any:
    """list[X] stays; Annotated[X, ...] and X | None become X."""
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _models_of(annotation: Any) -> tuple[type[BaseModel], ...]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation,)
    return ()


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


TYPE_WORDS = {  # Python's type of a parsed TOML value, in TOML's words
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "an array",
    "dict": "a table",
    "datetime": "a date",
    "date": "a date",
    "time": "a time",
}


def _describe(error: dict[str, Any], where: _Where, trapped: set[str]) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = TYPE_WORDS.get(type(value).__name__, type(value).__name__)
    if kind == "extra_forbidden":
        return _unknown_key(str(error["loc"][-1]), where, trapped)
    if kind == "missing":
        return "is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        where.path += ".kind"
        known = known_check_kinds()
        if kind == "union_tag_not_found":
            return f"is missing (known check kinds: {', '.join(known)})"
        tag = str(ctx.get("tag"))
        return f"unknown check kind {tag!r}{_suggest(tag, known)} (known: {', '.join(known)})"
    if kind in ("literal_error", "enum"):
        if where.path == "schema_version":
            return f"is {_shown(value)}; this version of the app reads schema_version = {SCHEMA_VERSION}"
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"is {_shown(value)}{_suggest(str(value), expected)} (use one of: {', '.join(expected)})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        header = re.sub(r"\[\d+\]", "", where.path)
        if where.path.endswith("]"):
            return f"must be a table: write each item as a [[{header}]] table, not {got} ({_shown(value)})"
        if isinstance(value, list):
            return f"must be a table: write [{header}] (single brackets), not [[{header}]]"
        return f"must be a table ([{header}]), not {got}"
    if kind in ("list_type", "tuple_type"):
        header = re.sub(r"\[\d+\]", "", where.path)
        if isinstance(value, dict):
            return f"must be an array of tables: write [[{header}]] (double brackets), once per item"
        return f"must be an array [...], not {got} ({_shown(value)})"
    if kind in TYPE_ERRORS:
        return f"must be {TYPE_ERRORS[kind]}, not {got} ({_shown(value)})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"is {_shown(value)}; {_range(where)}"
    if kind in ("too_short", "too_long"):
        if where.path.endswith("]"):
            return f"must be a pair [old, new], not {len(value)} item(s)"
        return "give at least one"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


TYPE_ERRORS = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
}


def _shown(value: Any) -> str:
    """A value as the teacher wrote it in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = f'"{value}"' if isinstance(value, str) else str(value) if hasattr(value, "isoformat") else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _range(where: _Where) -> str:
    model, name = where.model, where.path.rsplit(".", 1)[-1]
    info = model.model_fields.get(name) if model is not None else None
    low = high = None
    for item in info.metadata if info is not None else []:
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    if low is not None and high is not None:
        return f"use {low:g} to {high:g}"
    return (
        f"use at least {low:g}" if low is not None else f"use at most {high:g}" if high is not None else "out of range"
    )


def _unknown_key(key: str, where: _Where, trapped: set[str]) -> str:
    model, _, header = where.tables[-1]  # the table the key was found in
    for outer, outer_path, outer_header in reversed(where.tables[:-1]):
        if key in _fields(outer):  # a key of an enclosing table, written below a [table] line
            trapped.add(f"{outer_path}.{key}" if outer_path else key)
            if outer_header:  # the enclosing table is the one just above: move the key into it
                advice = f"above `{header}`, so that it belongs to `{outer_header}`"
            else:
                advice = f"above `{header}` (top-level keys go above the file's first [table] line)"
            return (
                f"`{key}` is inside `{header}`: in TOML every key below a [table] line belongs to that "
                f"table. Move `{key}` {advice}"
            )
    choices = list(_fields(model))
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    if close:  # "summary is missing" next to "did you mean 'summary'?" says the same twice
        table_path = where.path.rsplit(".", 1)[0] if "." in where.path else ""
        trapped.add(f"{table_path}.{close[0]}" if table_path else close[0])
    return f"unknown key '{key}'{_suggest(key, choices)} (known here: {', '.join(choices)})"
