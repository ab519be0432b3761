"""Checks on hand-made run results (the sandbox below is replaced by plain data here)."""

from __future__ import annotations

from typing import Literal

import pytest

from tutor.checks.builtin import NoErrorCheck
from tutor.checks.judge import CheckResult, CheckStatus, run_check, run_checks
from tutor.checks.kinds import (
    CHECK_KINDS,
    INT,
    CheckBase,
    CheckKind,
    CheckSpec,
    FactPath,
    Finding,
    Outcome,
    check_kind,
    check_title,
    kind_name,
    register,
)
from tutor.sandbox.results import CaughtError, ErrorInfo, FitInfo, LoadInfo, ModelInfo, RunResult, Termination


def finished(**fields) -> RunResult:
    return RunResult(Termination.FINISHED, 1.0, **{"exit_code": 0, **fields})


def trained_model(**fields) -> ModelInfo:
    return ModelInfo(
        **{
            "name": "model",
            "defined": True,
            "type": "Sequential",
            "is_keras_model": True,
            "trained": True,
            "params": 50890,
            **fields,
        }
    )


def fit(epochs=5, run=5, accuracy=0.95, **fields) -> FitInfo:
    history = [{"loss": 0.1, "accuracy": accuracy}] * run
    return FitInfo(
        index=1, epochs=epochs, line=24, epochs_run=run, completed=run == epochs, ended=True, history=history, **fields
    )


NAME_ERROR = ErrorInfo(
    type="NameError",
    message="name 'model' is not defined",
    line=24,
    name="model",
    is_name_error=True,
    analysis={"summary": "Line 23 throws the result away."},
)
GOOD = finished(fits=[fit()], model=trained_model())


def check(kind: str, result: RunResult, **params):
    return run_check(CheckSpec(kind, params), result, "model")


def test_no_name_error_names_line_name_and_cause() -> None:
    outcome = check("no_name_error", finished(error=NAME_ERROR, exit_code=1))
    assert not outcome.passed
    assert "Line 24" in outcome.message and "'model'" in outcome.message
    assert "throws the result away" in outcome.message
    assert check("no_name_error", GOOD).passed


def test_a_caught_name_error_fails_with_the_facts_of_the_one_declared_path() -> None:
    """Caught or not, the same facts (tests/test_lesson_schema.py drives the uncaught path): a lesson's message
    works both ways, and {handler_line} is None when nothing caught the error."""
    kind = CHECK_KINDS["no_name_error"]
    [declared] = [path for path in kind.fact_paths[Outcome.FAILED] if path.judged]
    caught = CaughtError("NameError", "model", "name 'model' is not defined", 24, "train", 26,
                         {"summary": "Kept? write `model = f()`.", "diagnosis": "Not kept."})  # fmt: skip
    hidden = kind.function(finished(caught=[caught]), {}, "model")
    stopped = kind.function(finished(error=NAME_ERROR, exit_code=1, caught=[caught]), {}, "model")
    assert not hidden.passed and not stopped.passed
    assert set(hidden.facts) == set(stopped.facts) == set(declared.facts)
    assert hidden.facts["handler_line"] == 26 and stopped.facts["handler_line"] is None  # the uncaught one first
    assert hidden.message == (
        "Line 24 (inside `train()`) raised NameError: name 'model' is not defined, and the `except` on line 26 "
        "caught it, so your program went on without `model`. A NameError hidden is not a NameError fixed. Not kept."
    )
    # A caught one is seen even when the run ended badly afterwards (a time limit): it is judged, not "not reached".
    timeout = RunResult(Termination.TIMEOUT, 60, detail="Stopped after 60 s.", caught=[caught])
    assert check("no_name_error", timeout).status is CheckStatus.FAILED


def test_other_errors_are_not_called_name_errors() -> None:
    error = ErrorInfo(type="SyntaxError", message="'(' was never closed", line=3)
    outcome = check("no_name_error", finished(error=error))
    assert not outcome.passed
    assert "SyntaxError on line 3" in outcome.message and "NameError" not in outcome.message
    value_error = ErrorInfo(type="ValueError", message="File not found", line=2)
    assert check("no_name_error", finished(error=value_error)).passed
    assert not check("no_error", finished(error=value_error)).passed


def test_unfinished_runs_fail_once_with_the_reason_and_the_rest_is_not_reached() -> None:
    timeout = RunResult(Termination.TIMEOUT, 60, detail="Your program was stopped after 60 s.")
    stopped = check("no_error", timeout)
    assert stopped.status is CheckStatus.FAILED and "stopped after 60 s" in stopped.message
    for kind in ("no_name_error", "training_completed", "model_is_keras_model"):
        outcome = check(kind, timeout)
        assert not outcome.passed and outcome.status is CheckStatus.NOT_REACHED
        assert outcome.message == "Not reached: your program was stopped before this point."


def test_training_completed() -> None:
    assert check("training_completed", GOOD).passed
    never = check("training_completed", finished(error=NAME_ERROR))  # the error stopped it before `fit`
    assert not never.passed and never.status is CheckStatus.NOT_REACHED and "line 24" in never.message
    assert "never called" in check("training_completed", finished()).message
    zero = check("training_completed", finished(fits=[fit(epochs=0, run=0)]))
    assert not zero.passed and "0 epoch" in zero.message
    partial = check("training_completed", finished(fits=[fit(epochs=5, run=2, error="RuntimeError")]))
    assert not partial.passed and "2 of 5" in partial.message
    too_few = check("training_completed", GOOD, min_epochs=10)
    assert not too_few.passed
    # Only the last fit counts: a complete first fit does not hide an interrupted second one.
    two = finished(
        fits=[fit(), FitInfo(index=2, epochs=5, line=30, epochs_run=1, ended=True, error="KeyboardInterrupt")]
    )
    assert not check("training_completed", two).passed


def test_model_checks() -> None:
    assert check("model_is_keras_model", GOOD).passed
    assert "50,890 parameters" in check("model_is_keras_model", GOOD).message
    none_model = finished(model=ModelInfo(name="model", defined=True, type="NoneType"))
    assert "`model` is None, not a Keras model" in check("model_is_keras_model", none_model).message
    missing = finished(model=ModelInfo(name="model", defined=False))
    assert not check("model_is_keras_model", missing).passed
    untrained = finished(fits=[fit()], model=trained_model(trained=False))
    assert not check("model_was_trained", untrained).passed
    assert check("model_was_trained", GOOD).passed


def test_min_accuracy() -> None:
    assert check("min_accuracy", GOOD, threshold=0.9).passed
    low = check("min_accuracy", finished(fits=[fit(accuracy=0.5)]), threshold=0.9)
    assert not low.passed and "50.0%" in low.message
    no_metric = finished(fits=[FitInfo(index=1, epochs=1, epochs_run=1, completed=True, history=[{"loss": 1.0}])])
    assert "metrics=['accuracy']" in check("min_accuracy", no_metric, threshold=0.9).message


def test_loaded_saved_model() -> None:
    loaded = finished(loads=[LoadInfo("my_model.keras", True, 5)], model=trained_model(loaded=True))
    assert check("loaded_saved_model", loaded).passed
    replaced = finished(loads=[LoadInfo("my_model.keras", True, 5)], model=trained_model(loaded=False))
    outcome = check("loaded_saved_model", replaced)
    assert not outcome.passed and "replaced" in outcome.message
    failed = finished(loads=[LoadInfo("my_model.keras", False, 5, "ValueError", "File not found")])
    assert "raised ValueError" in check("loaded_saved_model", failed).message
    assert "never called" in check("loaded_saved_model", GOOD).message


def test_lesson_message_overrides_default_with_facts() -> None:
    spec = CheckSpec("no_name_error", {}, message="Keep the model: line {line} needs `{name}`. {unknown}")
    outcome = run_check(spec, finished(error=NAME_ERROR), "model")
    assert outcome.message == "Keep the model: line 24 needs `model`. {unknown}"
    passed = run_check(CheckSpec("no_name_error", {}, passed_message="Well done."), GOOD, "model")
    assert passed.message == "Well done."


def test_one_bug_is_one_failure_and_the_rest_not_reached() -> None:
    """Issue 11: the starter's NameError is one failed check with its explanation; the checks the program
    never got to are "not reached", and a second check on the same error does not repeat it."""
    specs = tuple(CheckSpec(kind, {"threshold": 0.9} if kind == "min_accuracy" else {}) for kind in (
        "no_name_error", "no_error", "training_completed", "model_is_keras_model", "model_was_trained",
        "min_accuracy"))  # fmt: skip
    error = ErrorInfo(**{**vars(NAME_ERROR), "analysis": {"summary": "Kept? write `model = f()`.",
                                                          "diagnosis": "Not kept."}})  # fmt: skip
    results = run_checks(specs, finished(error=error, model=trained_model(defined=False)), "model")
    assert [r.status for r in results] == [CheckStatus.FAILED, CheckStatus.FAILED, *[CheckStatus.NOT_REACHED] * 4]
    assert results[0].message == "Line 24: NameError: name 'model' is not defined. Not kept."  # no fix in it
    assert results[1].message == "Failed on the same NameError (line 24)."
    assert [r.same_error for r in results] == [False, True, *[False] * 4]
    assert len({r.message for r in results[2:]}) == 1 and "stopped at line 24" in results[2].message
    syntax = ErrorInfo(type="SyntaxError", message="invalid syntax", line=3)
    statuses = [r.status for r in run_checks(specs, finished(error=syntax), "model")]
    assert statuses == [CheckStatus.NOT_REACHED, CheckStatus.FAILED, *[CheckStatus.NOT_REACHED] * 4]


def test_one_epoch_is_singular() -> None:
    one = check("training_completed", finished(fits=[fit(epochs=1, run=1)]))
    assert one.passed and "ran 1 epoch." in one.message


def test_same_error_is_a_field_that_survives_the_round_trip() -> None:
    """The UI counts "more on the same error" by the field, never by the message's wording."""
    specs = (CheckSpec("no_error"), CheckSpec("no_name_error"), CheckSpec("training_completed"))
    results = run_checks(specs, finished(error=NAME_ERROR), "model")
    assert [(r.status, r.same_error) for r in results] == [
        (CheckStatus.FAILED, False),
        (CheckStatus.FAILED, True),  # the second failing error check, whichever kind comes first
        (CheckStatus.NOT_REACHED, False),
    ]
    for result in results:
        assert CheckResult.from_dict(result.to_dict()) == result
    old = {key: value for key, value in results[1].to_dict().items() if key != "same_error"}
    assert CheckResult.from_dict(old).same_error is False  # a result stored before the field: accepted
    positional = CheckResult("no_error", False, "bad", "default", CheckStatus.FAILED)
    assert positional.same_error is False and CheckResult.from_dict(positional.to_dict()) == positional
    one = run_checks((CheckSpec("no_error"),), finished(error=NAME_ERROR), "model")
    assert not one[0].same_error


def test_every_kind_is_declared_once_with_its_whole_contract() -> None:
    assert sorted(CHECK_KINDS) == [
        "loaded_saved_model", "min_accuracy", "model_is_keras_model", "model_was_trained", "no_error",
        "no_name_error", "training_completed",
    ]  # fmt: skip
    for name, kind in CHECK_KINDS.items():
        assert kind.name == name == kind_name(kind.params) and issubclass(kind.params, CheckBase)
        assert kind.title.strip() and check_title(name) == kind.title
        assert set(kind.fact_paths) == set(Outcome) and all(kind.fact_paths[side] for side in Outcome)
        assert callable(kind.function)
    assert {name for name, kind in CHECK_KINDS.items() if kind.reports_error} == {"no_name_error", "no_error"}
    assert check_title("retired_kind") == "retired kind"  # a stored result of a kind no longer known


class ProbeCheck(CheckBase):
    kind: Literal["probe"]
    level: int = 2


def probe(result: RunResult, params: dict, model_name: str) -> Finding:
    return Finding(True, f"level {params['level']}")


PATHS = {Outcome.FAILED: (FactPath("it failed", {}),), Outcome.PASSED: (FactPath("it passed", {}),)}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "Probe"}, "lowercase Python name"),
        ({"title": " "}, "needs a title"),
        ({"params": None}, "params must be a CheckBase model"),
        ({"params": NoErrorCheck}, "declares kind 'no_error'"),
        ({"fact_paths": {Outcome.FAILED: PATHS[Outcome.FAILED]}}, "both outcomes"),
        ({"fact_paths": {**PATHS, Outcome.PASSED: ()}}, "at least one FactPath when it passed"),
        ({"fact_paths": {**PATHS, Outcome.FAILED: (FactPath("not run", {}, judged=False),)}}, "a judged path"),
        ({"function": None}, "needs a function"),
        ({"function": lambda result: None}, "must take"),
    ],
)
def test_a_kind_missing_part_of_its_contract_fails_registration(change: dict, problem: str) -> None:
    registry: dict[str, CheckKind] = {}
    parts = {"name": "probe", "title": "Probe", "params": ProbeCheck, "fact_paths": PATHS, "function": probe}
    with pytest.raises(ValueError, match=problem):
        register(CheckKind(**{**parts, **change}), registry)
    assert registry == {}


def test_registering_a_kind() -> None:
    registry: dict[str, CheckKind] = {}
    declared = check_kind(ProbeCheck, title="Probe", failed=PATHS[Outcome.FAILED], passed=PATHS[Outcome.PASSED],
                          registry=registry)(probe)  # fmt: skip
    assert declared is probe and set(registry) == {"probe"} and "probe" not in CHECK_KINDS
    kind = registry["probe"]
    assert kind.defaults == {"level": 2} and kind.param_facts == {"level": INT}
    assert kind.template_facts(Outcome.PASSED) == {"default": ("text",), "model_name": ("text",), "level": INT}
    with pytest.raises(ValueError, match="registered twice"):
        register(CheckKind("probe", "Probe again", ProbeCheck, PATHS, probe), registry)

    class ListCheck(CheckBase):
        kind: Literal["lists"]
        items: list[int] = []

    with pytest.raises(ValueError, match="parameter 'items'.*no sample values"):
        CheckKind("lists", "Lists", ListCheck, PATHS, probe)
