"""Declarative checks: kind ``foo`` is implemented by ``check_foo(result, params, model_name)``.

Each returns an Outcome: passed or not, a default message in plain words, and the facts the message
used, so a lesson can replace the message with its own text (``message = "... {line} ..."``). The
parameters and the facts of each path are declared once, in tutor.check_kinds.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tutor.check_kinds import param_defaults
from tutor.lessons import CheckSpec
from tutor.results import RunResult, Termination

ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")


@dataclass
class Outcome:
    passed: bool
    message: str
    facts: dict[str, Any] = field(default_factory=dict)
    judged: bool = True  # False: the program could not be checked on this point (the reason is the message)


@dataclass
class CheckResult:
    id: str
    passed: bool
    message: str
    case: str = "default"


def run_check(spec: CheckSpec, result: RunResult, model_name: str, case: str = "default") -> CheckResult:
    check: Callable[..., Outcome] = globals()[f"check_{spec.kind}"]
    params = {**param_defaults(spec.kind), **spec.params}
    outcome = check(result, params, model_name)
    template = spec.passed_message if outcome.passed else spec.message
    message = outcome.message
    if template and outcome.judged:
        # The facts every path gives (tutor.check_kinds); a lesson's templates were validated against them.
        facts = {**params, "default": outcome.message, "model_name": model_name, **outcome.facts}
        message = string.Formatter().vformat(template, (), _Facts(facts))
    return CheckResult(spec.kind, outcome.passed, message, case)


class _Facts(dict):
    """A template from a loaded lesson never misses a fact (validated at load); one made by hand in
    code may, and then the placeholder stays visible instead of crashing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _not_run(result: RunResult) -> Outcome | None:
    """Programs that could not be judged on this point fail with the reason, in words."""
    if result.termination in (Termination.FINISHED, Termination.EXITED):
        error = result.error
        if error is not None and error.type in ("SyntaxError", "IndentationError", "TabError"):
            return Outcome(
                False,
                f"Not checked: your code has a {error.type} on line {error.line}, so it never ran.",
                {"line": error.line, "type": error.type},
                judged=False,
            )
        return None
    return Outcome(False, f"Not checked: {result.detail}", {"detail": result.detail}, judged=False)


def check_no_name_error(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    error = result.error
    if error is not None and error.is_name_error:
        summary = (error.analysis or {}).get("summary", "")
        facts = {"line": error.line, "name": error.name, "type": error.type, "summary": summary}
        kind = "UnboundLocalError" if error.type == "UnboundLocalError" else "NameError"
        text = f"Line {error.line}: {kind}: name '{error.name}' is not defined."
        if kind == "UnboundLocalError":
            text = f"Line {error.line}: UnboundLocalError: {error.message}."
        return Outcome(False, f"{text} {summary}".strip(), facts)
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
    return _not_run(result) or Outcome(True, "Your program ran to its end without an error.")


def check_training_completed(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    min_epochs = params.get("min_epochs", 1)
    fit = result.last_fit
    if fit is None:
        reason = _not_run(result)
        if reason is not None:
            return reason
        stopped = f" (your program stopped at line {result.error.line})" if result.error else ""
        return Outcome(False, f"`fit` was never called, so the model was not trained{stopped}.", {})
    facts = {"line": fit.line, "epochs": fit.epochs, "epochs_run": fit.epochs_run, "min_epochs": min_epochs}
    wanted = fit.epochs - fit.initial_epoch if isinstance(fit.epochs, int) and isinstance(fit.initial_epoch, int) else 0
    if wanted < min_epochs:
        return Outcome(
            False, f"`fit` on line {fit.line} asked for {wanted} epoch(s); train at least {min_epochs}.", facts
        )
    if not fit.completed:
        how = f"stopped by {fit.error}" if fit.error else "stopped early"
        if not fit.ended:
            how = result.detail or "the program stopped"
        return Outcome(False, f"`fit` on line {fit.line} ran {fit.epochs_run} of {wanted} epochs ({how}).", facts)
    return Outcome(True, f"`fit` on line {fit.line} ran all {wanted} epochs.", facts)


def check_model_is_keras_model(result: RunResult, params: dict[str, Any], model_name: str) -> Outcome:
    model = result.model
    facts = {"name": model_name}
    if model is None:
        return _not_run(result) or Outcome(False, f"Could not see `{model_name}` at the end of your program.", facts)
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
        reason = _not_run(result)
        return reason or Outcome(False, f"There is no `{model_name}` at the end, so no trained model to check.", facts)
    if not model.is_keras_model:
        return Outcome(False, f"`{model_name}` is not a Keras model, so it cannot be the trained one.", facts)
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
        return _not_run(result) or Outcome(
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
        return _not_run(result) or Outcome(
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
