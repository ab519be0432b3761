"""The contract of every check kind, defined once: its parameters (a pydantic model, part of the lesson
schema) and the facts it gives a ``message`` / ``passed_message`` template on each of its paths.

``tutor.checks.judge`` implements kind ``foo`` as ``check_foo``; tests/test_lesson_schema.py drives every
path of every check and asserts that the facts it returns are exactly the ones declared here, so a
template that validates at load time cannot fail at run time.
"""

from __future__ import annotations

import enum
import string
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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


@dataclass(frozen=True)
class FactPath:
    """One way a check reaches its verdict, and the facts it knows there. On a path that is not
    ``judged`` (the program could not be checked on this point) the default reason is always shown:
    a lesson's message is written for a real failure, not for a time limit or a syntax error."""

    why: str
    facts: dict[str, tuple[Any, ...]]
    judged: bool = True


NOT_RUN_SYNTAX = FactPath("the code has a syntax error", {"line": LINE, "type": TEXT}, judged=False)
NOT_RUN_STOPPED = FactPath(
    "the program did not run to its end (time limit, crash, ...)", {"detail": TEXT}, judged=False
)
NOT_RUN = (NOT_RUN_SYNTAX, NOT_RUN_STOPPED)
# An error stopped the program before the point this check looks at: "not reached" (issue 11), not failed.
STOPPED_EARLY = FactPath(
    "an error stopped the program before this point", {"line": LINE, "type": TEXT, "message": TEXT}, judged=False
)
FIT_FACTS = {"line": LINE, "epochs": ANYTHING, "epochs_run": INT, "min_epochs": INT}

# Facts every check gives on every path (tutor.checks.judge.run_check adds them), besides its parameters.
COMMON_FACTS: dict[str, tuple[Any, ...]] = {"default": TEXT, "model_name": TEXT}

FACT_PATHS: dict[str, dict[Outcome, tuple[FactPath, ...]]] = {
    "no_name_error": {
        Outcome.FAILED: (
            FactPath(
                "a NameError stopped the program",
                {"line": LINE, "name": TEXT_OR_NONE, "type": TEXT, "summary": TEXT, "diagnosis": TEXT},
            ),
            *NOT_RUN,
        ),
        Outcome.PASSED: (FactPath("no NameError stopped the program", {}),),
    },
    "no_error": {
        Outcome.FAILED: (
            FactPath("the program raised an exception", {"line": LINE, "type": TEXT, "message": TEXT}),
            FactPath("the program called sys.exit(n)", {"exit_code": INT_OR_NONE}),
            NOT_RUN_STOPPED,
        ),
        Outcome.PASSED: (FactPath("the program ran to its end", {}),),
    },
    "training_completed": {
        Outcome.FAILED: (
            *NOT_RUN,
            STOPPED_EARLY,
            FactPath("fit was never called", {}),
            FactPath("fit asked for too few epochs, or stopped early", FIT_FACTS),
        ),
        Outcome.PASSED: (FactPath("fit ran every epoch", FIT_FACTS),),
    },
    "model_is_keras_model": {
        Outcome.FAILED: (
            *NOT_RUN,
            STOPPED_EARLY,
            FactPath("the model name is not defined at the end", {"name": TEXT}),
            FactPath("the name holds something else", {"name": TEXT, "type": TEXT_OR_NONE, "params": INT_OR_NONE}),
        ),
        Outcome.PASSED: (FactPath("it is a Keras model", {"name": TEXT, "type": TEXT_OR_NONE, "params": INT_OR_NONE}),),
    },
    "model_was_trained": {
        Outcome.FAILED: (
            *NOT_RUN,
            STOPPED_EARLY,
            FactPath("there is no trained model under the name", {"name": TEXT}),
        ),
        Outcome.PASSED: (FactPath("the model is the one fit trained", {"name": TEXT}),),
    },
    "min_accuracy": {
        Outcome.FAILED: (
            *NOT_RUN,
            STOPPED_EARLY,
            FactPath("no epoch finished, or no accuracy was reported", {"threshold": FLOAT}),
            FactPath("the accuracy is below the threshold", {"threshold": FLOAT, "accuracy": FLOAT}),
        ),
        Outcome.PASSED: (FactPath("the accuracy reached the threshold", {"threshold": FLOAT, "accuracy": FLOAT}),),
    },
    "loaded_saved_model": {
        Outcome.FAILED: (
            *NOT_RUN,
            STOPPED_EARLY,
            FactPath("load_model was never called", {"name": TEXT}),
            FactPath("load_model raised", {"name": TEXT, "path": TEXT, "line": LINE, "error_type": TEXT_OR_NONE}),
            FactPath("the loaded model was replaced", {"name": TEXT, "path": TEXT, "line": LINE}),
        ),
        Outcome.PASSED: (FactPath("the model is the loaded one", {"name": TEXT, "path": TEXT, "line": LINE}),),
    },
}


class CheckBase(StrictModel):
    """Fields every check has. A subclass per kind adds its parameters."""

    KIND: ClassVar[str] = ""
    PARAM_FACTS: ClassVar[dict[str, tuple[Any, ...]]] = {}

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
        problem = template_problem(value, cls.KIND, outcome)
        if problem:
            raise ValueError(problem)
        return value

    def params(self) -> dict[str, Any]:
        """The check's parameters, defaults filled in."""
        return self.model_dump(exclude={"kind", "message", "passed_message"})


class NoNameErrorCheck(CheckBase):
    """Passes when no NameError (or UnboundLocalError) stopped the program."""

    KIND: ClassVar[str] = "no_name_error"
    kind: Literal["no_name_error"]


class NoErrorCheck(CheckBase):
    """Passes when the program ran to its end without an uncaught exception or sys.exit(n != 0)."""

    KIND: ClassVar[str] = "no_error"
    kind: Literal["no_error"]


class TrainingCompletedCheck(CheckBase):
    """Passes when the last fit ran every epoch it asked for, and asked for at least min_epochs."""

    KIND: ClassVar[str] = "training_completed"
    PARAM_FACTS: ClassVar[dict[str, tuple[Any, ...]]] = {"min_epochs": INT}
    kind: Literal["training_completed"]
    min_epochs: int = Field(1, ge=1, le=1000, description="The fewest epochs the last fit must ask for.")


class ModelIsKerasModelCheck(CheckBase):
    """Passes when the model name, at module level at the end, is a Keras model."""

    KIND: ClassVar[str] = "model_is_keras_model"
    kind: Literal["model_is_keras_model"]


class ModelWasTrainedCheck(CheckBase):
    """Passes when that model is the one fit trained."""

    KIND: ClassVar[str] = "model_was_trained"
    kind: Literal["model_was_trained"]


class MinAccuracyCheck(CheckBase):
    """Passes when the final training accuracy of the last fit reaches the threshold."""

    KIND: ClassVar[str] = "min_accuracy"
    PARAM_FACTS: ClassVar[dict[str, tuple[Any, ...]]] = {"threshold": FLOAT}
    kind: Literal["min_accuracy"]
    threshold: float = Field(ge=0, le=1, description="Accuracy to reach, 0 to 1 (0.9 is 90%).")


class LoadedSavedModelCheck(CheckBase):
    """Passes when the model name holds the object load_model returned (not a rebuilt one)."""

    KIND: ClassVar[str] = "loaded_saved_model"
    kind: Literal["loaded_saved_model"]


CHECK_MODELS: dict[str, type[CheckBase]] = {
    model.KIND: model
    for model in (
        NoNameErrorCheck,
        NoErrorCheck,
        TrainingCompletedCheck,
        ModelIsKerasModelCheck,
        ModelWasTrainedCheck,
        MinAccuracyCheck,
        LoadedSavedModelCheck,
    )
}
CheckModel = Annotated[
    NoNameErrorCheck
    | NoErrorCheck
    | TrainingCompletedCheck
    | ModelIsKerasModelCheck
    | ModelWasTrainedCheck
    | MinAccuracyCheck
    | LoadedSavedModelCheck,
    Field(discriminator="kind"),
]


def known_check_kinds() -> list[str]:
    return sorted(CHECK_MODELS)


def param_defaults(kind: str) -> dict[str, Any]:
    model = CHECK_MODELS[kind]
    return {
        name: info.default
        for name, info in model.model_fields.items()
        if name not in ("kind", "message", "passed_message") and not info.is_required()
    }


def facts_on_every_path(kind: str, outcome: Outcome) -> dict[str, tuple[Any, ...]]:
    """The facts a template may use for this kind and outcome, with their sample values."""
    paths = [path for path in FACT_PATHS[kind][outcome] if path.judged]
    shared = set.intersection(*(set(path.facts) for path in paths))
    facts = {**COMMON_FACTS, **CHECK_MODELS[kind].PARAM_FACTS}
    for path in paths:
        for name in shared:
            facts[name] = tuple(dict.fromkeys((*facts.get(name, ()), *path.facts[name])))
    return facts


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
    judged = [path for path in FACT_PATHS[kind][outcome] if path.judged]
    lacking = [path.why for path in judged if name not in path.facts]
    if len(lacking) < len(judged):
        return (
            f"{shown}: check '{kind}' has no '{name}' when it {when} because {' or because '.join(lacking)}; "
            f"facts it has whenever it {when}: {names}"
        )
    return f"{shown}: check '{kind}' has no fact '{name}' when it {when}; facts: {names}"
