"""Declarative checks: kind ``foo`` is implemented by ``check_foo(result, params, model_name)``.

Each returns an Outcome: passed or not, a default message in plain words, and the facts the message
used, so a lesson can replace the message with its own text (``message = "... {line} ..."``). The
parameters and the facts of each path are declared once, in tutor.checks.kinds.

A check is passed, failed, or not reached: the program stopped before the point it checks (a
SyntaxError, a time limit, an earlier error), which is the reason, not a failure of its own.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tutor.checks.kinds import param_defaults
from tutor.lessons.lesson import CheckSpec
from tutor.sandbox.results import RunResult, Termination

ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")


class CheckStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_REACHED = "not_reached"  # the program stopped before this could be judged: not a failure of its own


# What each kind checks, in a few words: how a check is named where its message would repeat another's.
TITLES = {
    "no_name_error": "No NameError",
    "no_error": "Runs to the end without an error",
    "training_completed": "Training runs every epoch",
    "model_is_keras_model": "The name holds a Keras model",
    "model_was_trained": "It is the model that was trained",
    "min_accuracy": "Reaches the accuracy asked for",
    "loaded_saved_model": "Uses the saved model",
}
SAME_ERROR = "Failed on the same {type} (line {line})."  # a second check failing on one error says only this


def check_title(kind: str) -> str:
    return TITLES.get(kind, kind.replace("_", " "))


@dataclass
class Outcome:
    passed: bool
    message: str
    facts: dict[str, Any] = field(default_factory=dict)
    judged: bool = True  # False: the program could not be checked on this point (the reason is the message)
    reached: bool = True  # False: the program stopped before the thing checked: "not reached", not failed


@dataclass
class CheckResult:
    id: str
    passed: bool
    message: str
    case: str = "default"
    status: CheckStatus | None = None  # None: from ``passed`` (failed, unless told "not reached")

    def __post_init__(self) -> None:
        if self.status is None:
            self.status = CheckStatus.PASSED if self.passed else CheckStatus.FAILED
        self.status = CheckStatus(self.status)
        self.passed = self.status is CheckStatus.PASSED

    @property
    def title(self) -> str:
        return check_title(self.id)


def run_check(spec: CheckSpec, result: RunResult, model_name: str, case: str = "default") -> CheckResult:
    check: Callable[..., Outcome] = globals()[f"check_{spec.kind}"]
    params = {**param_defaults(spec.kind), **spec.params}
    outcome = check(result, params, model_name)
    if not outcome.reached:  # the reason the program stopped, said once for all such checks
        return CheckResult(spec.kind, False, outcome.message, case, CheckStatus.NOT_REACHED)
    template = spec.passed_message if outcome.passed else spec.message
    message = outcome.message
    if template and outcome.judged:
        # The facts every path gives (tutor.checks.kinds); a lesson's templates were validated against them.
        facts = {**params, "default": outcome.message, "model_name": model_name, **outcome.facts}
        message = string.Formatter().vformat(template, (), _Facts(facts))
    return CheckResult(spec.kind, outcome.passed, message, case)


def run_checks(
    specs: tuple[CheckSpec, ...], result: RunResult, model_name: str, case: str = "default"
) -> list[CheckResult]:
    """Every check of a case. A second check failing on the error an earlier one already reported says only
    that (one bug, one explanation)."""
    checks = [run_check(spec, result, model_name, case) for spec in specs]
    error = result.error
    if error is None:
        return checks
    reported = False
    for check in checks:
        if check.status is not CheckStatus.FAILED or check.id not in ERROR_CHECKS:
            continue
        if reported:
            check.message = SAME_ERROR.format(type=error.type, line=error.line)
        reported = True
    return checks


class _Facts(dict):
    """A template from a loaded lesson never misses a fact (validated at load); one made by hand in
    code may, and then the placeholder stays visible instead of crashing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


ERROR_CHECKS = ("no_name_error", "no_error")  # checks whose failure is the program's own error
SOURCE_ERRORS = ("SyntaxError", "IndentationError", "TabError")
STOPPED = "Not reached: the run was stopped."


def stop_reason(result: RunResult | None) -> str:
    """Why checks could not be judged, in words (one place for this sentence)."""
    if result is None:
        return "Not reached: an earlier case showed the code cannot run."
    error = result.error
    if result.termination in (Termination.FINISHED, Termination.EXITED):
        if error is not None and error.type in SOURCE_ERRORS:
            return f"Not reached: your code has a {error.type} on line {error.line}, so it never ran."
        if error is not None:
            return f"Not reached: your program stopped at line {error.line} ({error.type}) before this point."
        return "Not reached: your program ended before this point."
    # (the stop itself, e.g. "stopped after 60 s", is said once: by no_error and the verdict)
    return "Not reached: your program was stopped before this point." if result.detail else STOPPED


def _not_run(result: RunResult) -> Outcome | None:
    """Programs that could not be judged on this point: not reached, with the reason in words."""
    if result.termination in (Termination.FINISHED, Termination.EXITED):
        error = result.error
        if error is not None and error.type in SOURCE_ERRORS:
            return Outcome(
                False, stop_reason(result), {"line": error.line, "type": error.type}, judged=False, reached=False
            )
        return None
    return Outcome(False, stop_reason(result), {"detail": result.detail}, judged=False, reached=False)


def _stopped_early(result: RunResult) -> Outcome | None:
    """Checks about the program's end (or a later step) when an error stopped it first: not reached."""
    reason = _not_run(result)
    if reason is not None or result.error is None:
        return reason
    facts = {"line": result.error.line, "type": result.error.type, "message": result.error.message}
    return Outcome(False, stop_reason(result), facts, judged=False, reached=False)


def check_no_name_error(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    error = result.error
    if error is not None and error.is_name_error:
        analysis = error.analysis or {}
        summary = analysis.get("summary", "")
        # The message explains; the fix is kept apart (facts "summary" still has it, for lesson messages).
        diagnosis = analysis.get("diagnosis", summary)
        facts = {"line": error.line, "name": error.name, "type": error.type, "summary": summary,
                 "diagnosis": diagnosis}  # fmt: skip
        kind = "UnboundLocalError" if error.type == "UnboundLocalError" else "NameError"
        text = f"Line {error.line}: {kind}: name '{error.name}' is not defined."
        if kind == "UnboundLocalError":
            text = f"Line {error.line}: UnboundLocalError: {error.message}."
        return Outcome(False, f"{text} {diagnosis}".strip(), facts)
    # Only an uncaught NameError is visible here: a program that catches its own is judged by the
    # other checks (it did not train), so the wording claims no more than what was seen.
    return _not_run(result) or Outcome(True, "No NameError stopped your program.")


def check_no_error(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    error = result.error
    if error is not None:
        facts = {"line": error.line, "type": error.type, "message": error.message}
        what = error.message or ("it ran out of memory" if error.type == "MemoryError" else "(no message)")
        return Outcome(False, f"Line {error.line}: your program raised {error.type}: {what}", facts)
    if result.termination is Termination.EXITED:
        return Outcome(False, result.detail, {"exit_code": result.exit_code})
    if result.termination is not Termination.FINISHED:  # timeout, memory, output limit: it did not end well
        # failed (it is the headline), but a lesson's message is written for an exception: not applied
        detail = result.detail or "Your program did not run to its end."
        return Outcome(False, detail, {"detail": result.detail}, judged=False)
    return Outcome(True, "Your program ran to its end without an error.")


def check_training_completed(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    min_epochs = params.get("min_epochs", 1)
    fit = result.last_fit
    if fit is None:
        reason = _stopped_early(result)
        if reason is not None:
            return reason
        return Outcome(False, "`fit` was never called, so the model was not trained.", {})
    facts = {"line": fit.line, "epochs": fit.epochs, "epochs_run": fit.epochs_run, "min_epochs": min_epochs}
    wanted = fit.epochs - fit.initial_epoch if isinstance(fit.epochs, int) and isinstance(fit.initial_epoch, int) else 0
    if wanted < min_epochs:
        return Outcome(
            False,
            f"`fit` on line {fit.line} asked for {plural_epochs(wanted)}; train at least {plural_epochs(min_epochs)}.",
            facts,
        )
    if not fit.completed:
        how = f"stopped by {fit.error}" if fit.error else "stopped early"
        if not fit.ended:
            how = result.detail or "the program stopped"
        return Outcome(False, f"`fit` on line {fit.line} ran {fit.epochs_run} of {wanted} epochs ({how}).", facts)
    return Outcome(True, f"`fit` on line {fit.line} ran {plural_epochs(wanted, 'all ')}.", facts)


def plural_epochs(count: int, all_: str = "") -> str:
    """'ran all 5 epochs', 'ran 1 epoch' (never "all 1 epochs")."""
    return "1 epoch" if count == 1 else f"{all_}{count} epochs"


def check_model_is_keras_model(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    model = result.model
    facts = {"name": model_name}
    if model is None or (not model.defined and result.error is not None):
        return _stopped_early(result) or Outcome(
            False, f"Could not see `{model_name}` at the end of your program.", facts
        )
    if not model.defined:
        return Outcome(False, f"At the end of your program there is no `{model_name}` at module level.", facts)
    facts.update(type=model.type, params=model.params)
    if not model.is_keras_model:
        what = "None" if model.type == "NoneType" else f"a {model.type}"
        return Outcome(False, f"`{model_name}` is {what}, not a Keras model.", facts)
    size = f" with {model.params:,} parameters" if model.params is not None else ""
    return Outcome(True, f"`{model_name}` is a Keras {model.type}{size}.", facts)


def check_model_was_trained(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    model = result.model
    facts = {"name": model_name}
    if model is None or not model.defined:
        reason = _stopped_early(result)
        return reason or Outcome(False, f"There is no `{model_name}` at the end, so no trained model to check.", facts)
    if not model.is_keras_model:
        return Outcome(False, f"`{model_name}` is not a Keras model, so it cannot be the trained one.", facts)
    if not model.trained and result.error is not None:
        return _stopped_early(result) or Outcome(False, "", facts)
    if not model.trained:
        return Outcome(
            False,
            f"The `{model_name}` your program ends with was never trained: `fit` ran on a different model, "
            "or not at all.",
            facts,
        )
    return Outcome(True, f"`{model_name}` is the model that `fit` trained.", facts)


def check_min_accuracy(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    threshold = float(params["threshold"])
    facts: dict[str, Any] = {"threshold": threshold}
    fit = result.last_fit
    if fit is None or not fit.history:
        return (_not_run(result) if fit is not None else _stopped_early(result)) or Outcome(
            False, "No training epoch finished, so there is no accuracy to check.", facts
        )
    metrics = fit.final_metrics
    key = next((k for k in ACCURACY_KEYS if metrics.get(k) is not None), None)
    if key is None:
        return Outcome(False, "Training reported no accuracy: compile the model with metrics=['accuracy'].", facts)
    accuracy = float(metrics[key])
    facts["accuracy"] = accuracy
    if accuracy < threshold:
        return Outcome(False, f"Final training accuracy is {accuracy:.1%}; it should reach {threshold:.0%}.", facts)
    return Outcome(True, f"Final training accuracy {accuracy:.1%} (needed {threshold:.0%}).", facts)


def check_loaded_saved_model(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    facts: dict[str, Any] = {"name": model_name}
    if not result.loads:
        return _stopped_early(result) or Outcome(
            False, "`load_model` was never called, though a saved model was there.", facts
        )
    good = [load for load in result.loads if load.ok]
    if not good:
        failed = result.loads[-1]
        facts.update(path=failed.path, line=failed.line, error_type=failed.error_type)
        return Outcome(
            False,
            f"`load_model('{failed.path}')` on line {failed.line} raised {failed.error_type}: {failed.error}",
            facts,
        )
    facts.update(path=good[-1].path, line=good[-1].line)
    if result.model is None or not result.model.loaded:
        return Outcome(
            False,
            f"You loaded '{good[-1].path}' on line {good[-1].line}, but `{model_name}` at the end "
            "is a different model: the loaded one was replaced.",
            facts,
        )
    return Outcome(True, f"`{model_name}` is the model loaded from '{good[-1].path}' (line {good[-1].line}).", facts)
