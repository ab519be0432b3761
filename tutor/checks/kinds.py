"""The contract of a check kind, and the registry where each kind is declared once.

A kind is a ``CheckKind``: its name, its title (what it checks, in a few words), its parameters (a pydantic
model, part of the lesson schema), the facts it gives a ``message`` / ``passed_message`` template on each of
its paths, and the function that judges a run. tutor.checks.builtin declares the kinds with ``@check_kind``;
everything else reads ``CHECK_KINDS``: the lesson schema's union of check models (``check_model_union``),
template validation, titles, and tutor.checks.judge, which runs them.

tests/test_lesson_schema.py drives every path of every check and asserts that the facts it returns are
exactly the ones declared, so a template that validates at load time cannot fail at run time.
"""

from __future__ import annotations

import enum
import functools
import inspect
import operator
import string
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tutor.sandbox.results import RunResult


class StrictModel(BaseModel):
    """TOML types as written: no "5" for 5, no true for 1, and no key the schema does not know."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Outcome(enum.StrEnum):
    FAILED = "failed"
    PASSED = "passed"


# Sample values a fact can take: a template's format spec must work with every one of them.
LINE = (24, None)  # a line number is unknown for some errors
TEXT = ("text",)
TEXT_OR_NONE = ("text", None)
INT = (3,)
INT_OR_NONE = (3, None)
FLOAT = (0.5,)
ANYTHING = (5, None, "5")  # what the program passed, e.g. fit(epochs=...)
# A parameter is a fact too (e.g. {threshold:.0%}): its samples follow from its type in the check's model.
PARAM_SAMPLES: dict[Any, tuple[Any, ...]] = {int: INT, float: FLOAT, str: TEXT, bool: (True, False)}

# Facts every check gives on every path (tutor.checks.judge.run_check adds them), besides its parameters.
COMMON_FACTS: dict[str, tuple[Any, ...]] = {"default": TEXT, "model_name": TEXT}
BASE_FIELDS = ("kind", "message", "passed_message")  # fields of every check model that are not parameters


@dataclass(frozen=True)
class FactPath:
    """One way a check reaches its verdict, and the facts it knows there. On a path that is not
    ``judged`` (the program could not be checked on this point) the default reason is always shown:
    a lesson's message is written for a real failure, not for a time limit or a syntax error."""

    why: str
    facts: dict[str, tuple[Any, ...]]
    judged: bool = True


@dataclass
class Finding:
    """What a check function returns: passed or not, a default message in plain words, and the facts the
    message used (a lesson's template may use them instead)."""

    passed: bool
    message: str
    facts: dict[str, Any] = field(default_factory=dict)
    judged: bool = True  # False: the program could not be checked on this point (the reason is the message)
    reached: bool = True  # False: the program stopped before the thing checked: "not reached", not failed


CheckFunction = Callable[[RunResult, dict[str, Any], str], Finding]  # (result, params, model_name)


class CheckBase(StrictModel):
    """Fields every check has. A subclass per kind adds ``kind: Literal["<name>"]`` and its parameters."""

    message: str | None = Field(
        None,
        description="Replaces the default message when the check fails; {fact} placeholders are filled in.",
    )
    passed_message: str | None = Field(None, description="Replaces the default message when the check passes.")

    @field_validator("message", "passed_message")
    @classmethod
    def _template_fits_every_path(cls, value: str | None, info) -> str | None:
        if value is None:
            return value
        outcome = Outcome.FAILED if info.field_name == "message" else Outcome.PASSED
        problem = template_problem(value, kind_name(cls), outcome)
        if problem:
            raise ValueError(problem)
        return value

    def params(self) -> dict[str, Any]:
        """The check's parameters, defaults filled in."""
        return self.model_dump(exclude=set(BASE_FIELDS))


def kind_name(model: type[BaseModel]) -> str:
    """The name a check model declares in its ``kind: Literal["<name>"]`` field."""
    info = model.model_fields.get("kind") if isinstance(model, type) and issubclass(model, BaseModel) else None
    annotation = info.annotation if info is not None else None
    args = typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()
    if len(args) != 1 or not isinstance(args[0], str):
        raise ValueError(f'{model!r} is not a check model: it needs a field kind: Literal["<name>"]')
    return args[0]


@dataclass(frozen=True)
class CheckKind:
    """A check kind, declared once. Construction refuses a kind that lacks any part of its contract."""

    name: str
    title: str  # what it checks, in a few words: how a check is named where its message would repeat another's
    params: type[CheckBase]  # its table in a lesson file: ``kind`` and its parameters
    fact_paths: Mapping[Outcome, tuple[FactPath, ...]]  # every path to each outcome, with the facts it gives
    function: CheckFunction  # (result, params, model_name) -> Finding
    reports_error: bool = False  # it fails on the program's own error: a second such failure says "same error"

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(f"check kind {self.name!r}: {problem}")
        paths = {outcome: tuple(self.fact_paths[outcome]) for outcome in Outcome}
        object.__setattr__(self, "fact_paths", MappingProxyType(paths))

    def _problem(self) -> str | None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or not self.name.islower():
            return "the name must be a lowercase Python name, e.g. no_error"
        if not isinstance(self.title, str) or not self.title.strip():
            return "it needs a title (what it checks, in a few words)"
        if not (isinstance(self.params, type) and issubclass(self.params, CheckBase)):
            return f"its params must be a CheckBase model, not {self.params!r}"
        if kind_name(self.params) != self.name:
            return f"its params model {self.params.__name__} declares kind {kind_name(self.params)!r}"
        for name, info in self.params.model_fields.items():
            if name not in BASE_FIELDS and info.annotation not in PARAM_SAMPLES:
                return f"parameter {name!r} has type {info.annotation!r}, which has no sample values (PARAM_SAMPLES)"
        if not isinstance(self.fact_paths, Mapping) or set(self.fact_paths) != set(Outcome):
            return "its fact_paths must map both outcomes (failed, passed) to their paths"
        for outcome in Outcome:
            paths = self.fact_paths[outcome]
            if not paths or not all(isinstance(path, FactPath) for path in paths):
                return f"its fact_paths need at least one FactPath when it {outcome}"
            if not any(path.judged for path in paths):
                return f"it needs a judged path when it {outcome} (a template applies only there)"
        if not callable(self.function):
            return "it needs a function (result, params, model_name) -> Finding"
        try:
            inspect.signature(self.function).bind(None, {}, "model")
        except (TypeError, ValueError):
            name = getattr(self.function, "__name__", self.function)
            return f"its function {name!r} must take (result, params, model_name)"
        return None

    @property
    def param_facts(self) -> dict[str, tuple[Any, ...]]:
        fields = self.params.model_fields.items()
        return {name: PARAM_SAMPLES[info.annotation] for name, info in fields if name not in BASE_FIELDS}

    @property
    def defaults(self) -> dict[str, Any]:
        fields = self.params.model_fields.items()
        return {name: info.default for name, info in fields if name not in BASE_FIELDS and not info.is_required()}

    def template_facts(self, outcome: Outcome) -> dict[str, tuple[Any, ...]]:
        """The facts a template may use for this outcome (those on every judged path), with sample values."""
        paths = [path for path in self.fact_paths[outcome] if path.judged]
        shared = set.intersection(*(set(path.facts) for path in paths))
        facts = {**COMMON_FACTS, **self.param_facts}
        for path in paths:
            for name in shared:
                facts[name] = tuple(dict.fromkeys((*facts.get(name, ()), *path.facts[name])))
        return facts


CHECK_KINDS: dict[str, CheckKind] = {}  # filled by tutor.checks.builtin, imported with the package


def register(kind: CheckKind, registry: dict[str, CheckKind] | None = None) -> CheckKind:
    """Adds ``kind`` to ``registry`` (default: ``CHECK_KINDS``); a name or a params model taken twice is refused."""
    registry = CHECK_KINDS if registry is None else registry
    if kind.name in registry:
        raise ValueError(f"check kind {kind.name!r} is registered twice")
    if any(other.params is kind.params for other in registry.values()):
        raise ValueError(f"check kind {kind.name!r}: its params model {kind.params.__name__} is another kind's")
    registry[kind.name] = kind
    return kind


def check_kind(
    params: type[CheckBase],
    *,
    title: str,
    failed: tuple[FactPath, ...],
    passed: tuple[FactPath, ...],
    reports_error: bool = False,
    registry: dict[str, CheckKind] | None = None,
) -> Callable[[CheckFunction], CheckFunction]:
    """Declares the decorated function as the check of kind ``params``' ``kind``, and registers it."""

    def declare(function: CheckFunction) -> CheckFunction:
        paths = {Outcome.FAILED: failed, Outcome.PASSED: passed}
        register(CheckKind(kind_name(params), title, params, paths, function, reports_error), registry)
        return function

    return declare


def check_model_union() -> Any:
    """Every registered check model, told apart by ``kind``: the type of a lesson's ``[[checks]]``."""
    models = [kind.params for kind in CHECK_KINDS.values()]
    if not models:
        raise RuntimeError("no check kind is registered (tutor.checks.builtin was not imported)")
    if len(models) == 1:
        return models[0]
    return Annotated[functools.reduce(operator.or_, models), Field(discriminator="kind")]


def known_check_kinds() -> list[str]:
    return sorted(CHECK_KINDS)


def check_title(kind: str) -> str:
    """What the check of ``kind`` checks; a kind no longer known (an old stored result) keeps its name."""
    return CHECK_KINDS[kind].title if kind in CHECK_KINDS else kind.replace("_", " ")


def param_defaults(kind: str) -> dict[str, Any]:
    return CHECK_KINDS[kind].defaults


def facts_on_every_path(kind: str, outcome: Outcome) -> dict[str, tuple[Any, ...]]:
    """The facts a template may use for this kind and outcome, with their sample values."""
    return CHECK_KINDS[kind].template_facts(outcome)


def template_problem(template: str, kind: str, outcome: Outcome) -> str | None:
    """Why ``template`` would not format on some path of check ``kind``, in words; None when it always does."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"{exc}: a literal brace is written {{{{ or }}}}"
    usable = facts_on_every_path(kind, outcome)
    names = ", ".join(sorted(usable))
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if not name or name.isdigit():
            return f"{shown} needs a fact's name, e.g. {{line}}; a literal brace is written {{{{ or }}}}"
        if not name.isidentifier():
            return f"{shown}: only a fact's plain name may stand in braces (facts: {names})"
        if conversion not in (None, "r", "s", "a"):
            return f"{shown}: unknown conversion '!{conversion}' (use !r, !s or !a, or none)"
        if "{" in spec:
            return f"{shown}: a format spec cannot contain another placeholder"
        if name not in usable:
            return _missing_fact(shown, name, kind, outcome, names)
        for sample in usable[name]:
            value = {"r": repr, "s": str, "a": ascii}[conversion](sample) if conversion else sample
            try:
                format(value, spec)
            except (ValueError, TypeError) as exc:
                can_be = "None" if sample is None else f"a {type(sample).__name__}"
                return f"{shown}: the format ':{spec}' does not fit {name}, which can be {can_be} ({exc})"
    return None


def _missing_fact(shown: str, name: str, kind: str, outcome: Outcome, names: str) -> str:
    when = "fails" if outcome is Outcome.FAILED else "passes"
    judged = [path for path in CHECK_KINDS[kind].fact_paths[outcome] if path.judged]
    lacking = [path.why for path in judged if name not in path.facts]
    if len(lacking) < len(judged):
        return (
            f"{shown}: check '{kind}' has no '{name}' when it {when} because {' or because '.join(lacking)}; "
            f"facts it has whenever it {when}: {names}"
        )
    return f"{shown}: check '{kind}' has no fact '{name}' when it {when}; facts: {names}"


@dataclass(frozen=True)
class CheckSpec:
    """One check as a loaded lesson asks for it (tutor.lessons.lesson builds it from the check's model)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    message: str | None = None  # replaces the default message when the check fails
    passed_message: str | None = None
