"""The check kinds, each declared once: its parameters (the model of its ``[[checks]]`` table), and on the
function that judges a run, ``@check_kind`` with its title and the facts of every path to each outcome.

Each function gets the run result, the check's parameters (defaults filled in) and the lesson's model
name, and returns a Finding: passed or not, a default message in plain words, and the facts the message
used, so a lesson can replace the message with its own text (``message = "... {line} ..."``).

Imported by the package (tutor/checks/__init__.py), so the registry is complete wherever it is read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tutor.checks.kinds import (
    ANYTHING,
    FLOAT,
    INT,
    INT_OR_NONE,
    LINE,
    TEXT,
    TEXT_OR_NONE,
    CheckBase,
    FactPath,
    Finding,
    check_kind,
)
from tutor.checks.stops import NOT_RUN, NOT_RUN_STOPPED, STOPPED_EARLY, not_run, stopped_early
from tutor.sandbox.results import CaughtError, RunResult, Termination

ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")
FIT_FACTS = {"line": LINE, "epochs": ANYTHING, "epochs_run": INT, "min_epochs": INT}


class NoNameErrorCheck(CheckBase):
    """Passes when no NameError (or UnboundLocalError) stopped the program, and none was hidden by the
    program's own ``except``."""

    kind: Literal["no_name_error"]


# One path for both ways, so a lesson's message may use every fact whichever way it fails ({handler_line}
# is None when nothing caught the error).
NAME_ERROR_FACTS = {"line": LINE, "name": TEXT_OR_NONE, "type": TEXT, "summary": TEXT, "diagnosis": TEXT,
                    "handler_line": LINE, "cause": TEXT_OR_NONE}  # fmt: skip
HIDDEN = "A NameError hidden is not a NameError fixed."


@check_kind(
    NoNameErrorCheck,
    title="No NameError",
    reports_error=True,
    failed=(
        FactPath("a NameError stopped the program, or the program's own except caught one", NAME_ERROR_FACTS),
        *NOT_RUN,
    ),
    passed=(FactPath("no NameError stopped the program", {}),),
)
def check_no_name_error(result: RunResult, params: dict[str, Any], model_name: str) -> Finding:
    error = result.error
    if error is not None and error.is_name_error:
        analysis = error.analysis or {}
        summary = analysis.get("summary", "")
        # The message explains; the fix is kept apart (facts "summary" still has it, for lesson messages).
        diagnosis = analysis.get("diagnosis", summary)
        facts = {"line": error.line, "name": error.name, "type": error.type, "summary": summary,
                 "diagnosis": diagnosis, "handler_line": None, "cause": analysis.get("cause") or None}  # fmt: skip
        kind = "UnboundLocalError" if error.type == "UnboundLocalError" else "NameError"
        text = f"Line {error.line}: {kind}: name '{error.name}' is not defined."
        if kind == "UnboundLocalError":
            text = f"Line {error.line}: UnboundLocalError: {error.message}."
        return Finding(False, f"{text} {diagnosis}".strip(), facts)
    caught = next(iter(result.caught), None)
    if caught is not None:  # seen, whatever ended the run later: the program went on without the name
        return caught_name_error(caught)
    # A NameError caught by an ``except`` the source does not spell out (``except ERRORS:``), or by a library's
    # code, is not seen here: the wording claims no more than "none stopped it".
    return not_run(result) or Finding(True, "No NameError stopped your program.")


def caught_name_error(caught: CaughtError) -> Finding:
    """The program's own ``except`` caught a NameError: where it was raised, the ``except`` that hid it, and
    why the name was missing (the same analysis as for one that stops the program)."""
    analysis = caught.analysis or {}
    summary = analysis.get("summary", "")
    diagnosis = analysis.get("diagnosis", summary)
    facts = {"line": caught.line, "name": caught.name, "type": caught.type, "summary": summary,
             "diagnosis": diagnosis, "handler_line": caught.handler_line,
             "cause": analysis.get("cause") or None}  # fmt: skip
    where = f"Line {caught.line}" if caught.line else "Your program"
    inside = f" (inside `{caught.function}()`)" if caught.function else ""
    handler = f"the `except` on line {caught.handler_line}" if caught.handler_line else "an `except`"
    without = f"without `{caught.name}`" if caught.name else "as if nothing had happened"
    text = (
        f"{where}{inside} raised {caught.type}: {caught.message}, and {handler} caught it, so your program "
        f"went on {without}. {HIDDEN}"
    )
    return Finding(False, f"{text} {diagnosis}".strip(), facts)


class NoErrorCheck(CheckBase):
    """Passes when the program ran to its end without an uncaught exception or sys.exit(n != 0)."""

    kind: Literal["no_error"]


@check_kind(
    NoErrorCheck,
    title="Runs to the end without an error",
    reports_error=True,
    failed=(
        FactPath("the program raised an exception", {"line": LINE, "type": TEXT, "message": TEXT}),
        FactPath("the program called sys.exit(n)", {"exit_code": INT_OR_NONE}),
        NOT_RUN_STOPPED,
    ),
    passed=(FactPath("the program ran to its end", {}),),
)
def check_no_error(result: RunResult, params: dict[str, Any], model_name: str) -> Finding:
    error = result.error
    if error is not None:
        facts = {"line": error.line, "type": error.type, "message": error.message}
        what = error.message or ("it ran out of memory" if error.type == "MemoryError" else "(no message)")
        return Finding(False, f"Line {error.line}: your program raised {error.type}: {what}", facts)
    if result.termination is Termination.EXITED:
        return Finding(False, result.detail, {"exit_code": result.exit_code})
    if result.termination is not Termination.FINISHED:  # timeout, memory, output limit: it did not end well
        # failed (it is the headline), but a lesson's message is written for an exception: not applied
        detail = result.detail or "Your program did not run to its end."
        return Finding(False, detail, {"detail": result.detail}, judged=False)
    return Finding(True, "Your program ran to its end without an error.")


class TrainingCompletedCheck(CheckBase):
    """Passes when the last fit ran every epoch it asked for, and asked for at least min_epochs."""

    kind: Literal["training_completed"]
    min_epochs: int = Field(1, ge=1, le=1000, description="The fewest epochs the last fit must ask for.")


@check_kind(
    TrainingCompletedCheck,
    title="Training runs every epoch",
    failed=(
        *NOT_RUN,
        STOPPED_EARLY,
        FactPath("fit was never called", {}),
        FactPath("fit asked for too few epochs, or stopped early", FIT_FACTS),
    ),
    passed=(FactPath("fit ran every epoch", FIT_FACTS),),
)
def check_training_completed(result: RunResult, params: dict[str, Any], model_name: str) -> Finding:
    min_epochs = params.get("min_epochs", 1)
    fit = result.last_fit
    if fit is None:
        reason = stopped_early(result)
        if reason is not None:
            return reason
        return Finding(False, "`fit` was never called, so the model was not trained.", {})
    facts = {"line": fit.line, "epochs": fit.epochs, "epochs_run": fit.epochs_run, "min_epochs": min_epochs}
    wanted = fit.epochs - fit.initial_epoch if isinstance(fit.epochs, int) and isinstance(fit.initial_epoch, int) else 0
    if wanted < min_epochs:
        return Finding(
            False,
            f"`fit` on line {fit.line} asked for {plural_epochs(wanted)}; train at least {plural_epochs(min_epochs)}.",
            facts,
        )
    if not fit.completed:
        how = f"stopped by {fit.error}" if fit.error else "stopped early"
        if not fit.ended:
            how = result.detail or "the program stopped"
        return Finding(False, f"`fit` on line {fit.line} ran {fit.epochs_run} of {wanted} epochs ({how}).", facts)
    return Finding(True, f"`fit` on line {fit.line} ran {plural_epochs(wanted, 'all ')}.", facts)


def plural_epochs(count: int, all_: str = "") -> str:
    """'ran all 5 epochs', 'ran 1 epoch' (never "all 1 epochs")."""
    return "1 epoch" if count == 1 else f"{all_}{count} epochs"


class ModelIsKerasModelCheck(CheckBase):
    """Passes when the model name, at module level at the end, is a Keras model."""

    kind: Literal["model_is_keras_model"]


@check_kind(
    ModelIsKerasModelCheck,
    title="The name holds a Keras model",
    failed=(
        *NOT_RUN,
        STOPPED_EARLY,
        FactPath("the model name is not defined at the end", {"name": TEXT}),
        FactPath("the name holds something else", {"name": TEXT, "type": TEXT_OR_NONE, "params": INT_OR_NONE}),
    ),
    passed=(FactPath("it is a Keras model", {"name": TEXT, "type": TEXT_OR_NONE, "params": INT_OR_NONE}),),
)
def check_model_is_keras_model(result: RunResult, params: dict[str, Any], model_name: str) -> Finding:
    model = result.model
    facts = {"name": model_name}
    if model is None or (not model.defined and result.error is not None):
        return stopped_early(result) or Finding(
            False, f"Could not see `{model_name}` at the end of your program.", facts
        )
    if not model.defined:
        return Finding(False, f"At the end of your program there is no `{model_name}` at module level.", facts)
    facts.update(type=model.type, params=model.params)
    if not model.is_keras_model:
        what = "None" if model.type == "NoneType" else f"a {model.type}"
        return Finding(False, f"`{model_name}` is {what}, not a Keras model.", facts)
    size = f" with {model.params:,} parameters" if model.params is not None else ""
    return Finding(True, f"`{model_name}` is a Keras {model.type}{size}.", facts)


class ModelWasTrainedCheck(CheckBase):
    """Passes when that model is the one fit trained."""

    kind: Literal["model_was_trained"]


@check_kind(
    ModelWasTrainedCheck,
    title="It is the model that was trained",
    failed=(*NOT_RUN, STOPPED_EARLY, FactPath("there is no trained model under the name", {"name": TEXT})),
    passed=(FactPath("the model is the one fit trained", {"name": TEXT}),),
)
def check_model_was_trained(result: RunResult, params: dict[str, Any], model_name: str) -> Finding:
    model = result.model
    facts = {"name": model_name}
    if model is None or not model.defined:
        reason = stopped_early(result)
        return reason or Finding(False, f"There is no `{model_name}` at the end, so no trained model to check.", facts)
    if not model.is_keras_model:
        return Finding(False, f"`{model_name}` is not a Keras model, so it cannot be the trained one.", facts)
    if not model.trained and result.error is not None:
        return stopped_early(result) or Finding(False, "", facts)
    if not model.trained:
        return Finding(
            False,
            f"The `{model_name}` your program ends with was never trained: `fit` ran on a different model, "
            "or not at all.",
            facts,
        )
    return Finding(True, f"`{model_name}` is the model that `fit` trained.", facts)


class MinAccuracyCheck(CheckBase):
    """Passes when the final training accuracy of the last fit reaches the threshold."""

    kind: Literal["min_accuracy"]
    threshold: float = Field(ge=0, le=1, description="Accuracy to reach, 0 to 1 (0.9 is 90%).")


@check_kind(
    MinAccuracyCheck,
    title="Reaches the accuracy asked for",
    failed=(
        *NOT_RUN,
        STOPPED_EARLY,
        FactPath("no epoch finished, or no accuracy was reported", {"threshold": FLOAT}),
        FactPath("the accuracy is below the threshold", {"threshold": FLOAT, "accuracy": FLOAT}),
    ),
    passed=(FactPath("the accuracy reached the threshold", {"threshold": FLOAT, "accuracy": FLOAT}),),
)
def check_min_accuracy(result: RunResult, params: dict[str, Any], model_name: str) -> Finding:
    threshold = float(params["threshold"])
    facts: dict[str, Any] = {"threshold": threshold}
    fit = result.last_fit
    if fit is None or not fit.history:
        return (not_run(result) if fit is not None else stopped_early(result)) or Finding(
            False, "No training epoch finished, so there is no accuracy to check.", facts
        )
    metrics = fit.final_metrics
    key = next((k for k in ACCURACY_KEYS if metrics.get(k) is not None), None)
    if key is None:
        return Finding(False, "Training reported no accuracy: compile the model with metrics=['accuracy'].", facts)
    accuracy = float(metrics[key])
    facts["accuracy"] = accuracy
    if accuracy < threshold:
        return Finding(False, f"Final training accuracy is {accuracy:.1%}; it should reach {threshold:.0%}.", facts)
    return Finding(True, f"Final training accuracy {accuracy:.1%} (needed {threshold:.0%}).", facts)


class LoadedSavedModelCheck(CheckBase):
    """Passes when the model name holds the object load_model returned (not a rebuilt one)."""

    kind: Literal["loaded_saved_model"]


@check_kind(
    LoadedSavedModelCheck,
    title="Uses the saved model",
    failed=(
        *NOT_RUN,
        STOPPED_EARLY,
        FactPath("load_model was never called", {"name": TEXT}),
        FactPath("load_model raised", {"name": TEXT, "path": TEXT, "line": LINE, "error_type": TEXT_OR_NONE}),
        FactPath("the loaded model was replaced", {"name": TEXT, "path": TEXT, "line": LINE}),
    ),
    passed=(FactPath("the model is the loaded one", {"name": TEXT, "path": TEXT, "line": LINE}),),
)
def check_loaded_saved_model(result: RunResult, params: dict[str, Any], model_name: str) -> Finding:
    facts: dict[str, Any] = {"name": model_name}
    if not result.loads:
        return stopped_early(result) or Finding(
            False, "`load_model` was never called, though a saved model was there.", facts
        )
    good = [load for load in result.loads if load.ok]
    if not good:
        failed = result.loads[-1]
        facts.update(path=failed.path, line=failed.line, error_type=failed.error_type)
        return Finding(
            False,
            f"`load_model('{failed.path}')` on line {failed.line} raised {failed.error_type}: {failed.error}",
            facts,
        )
    facts.update(path=good[-1].path, line=good[-1].line)
    if result.model is None or not result.model.loaded:
        return Finding(
            False,
            f"You loaded '{good[-1].path}' on line {good[-1].line}, but `{model_name}` at the end "
            "is a different model: the loaded one was replaced.",
            facts,
        )
    return Finding(True, f"`{model_name}` is the model loaded from '{good[-1].path}' (line {good[-1].line}).", facts)
