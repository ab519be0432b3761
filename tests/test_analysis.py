"""Static analysis behind NameError messages."""

from __future__ import annotations

import pytest

from tutor.grading.name_error import analyze_name_error, predict_early_name_error


def test_discarded_result_of_a_returning_function() -> None:
    source = "def build_model():\n    model = 1\n    return model\n\nbuild_model()\nmodel.fit()\n"
    analysis = analyze_name_error(source, "model", 6)
    assert [(b.line, b.scope) for b in analysis.bindings] == [(2, "build_model")]
    assert [(c.line, c.function) for c in analysis.discarded_calls] == [(5, "build_model")]
    assert "write `model = build_model()`" in analysis.summary
    assert "only inside `build_model()`" in analysis.summary


def test_result_kept_under_another_name() -> None:
    source = "def setup():\n    model = 1\n    return model\n\nmy_model = setup()\nmodel.fit()\n"
    analysis = analyze_name_error(source, "model", 6)
    assert [(c.line, c.target, c.function) for c in analysis.kept_as] == [(5, "my_model", "setup")]
    assert "Line 5 keeps what `setup()` returns as `my_model`, but line 6 asks for `model`." in analysis.diagnosis
    assert analysis.fix == "Use one name in both places, for example `model = setup()`."
    assert "assign the result at module level" not in analysis.summary  # it is assigned: under another name
    assert "Did you mean" not in analysis.summary


def test_a_kept_result_of_an_unrelated_function_is_not_the_explanation() -> None:
    source = "def load():\n    data = 1\n    return data\n\nnumbers = load()\nmodel.fit(numbers)\n"
    analysis = analyze_name_error(source, "model", 6)
    assert analysis.kept_as == []
    assert "never assigned or imported" in analysis.summary and "keeps what" not in analysis.summary


def test_assigned_later() -> None:
    source = "model.fit()\nmodel = make()\n"
    analysis = analyze_name_error(source, "model", 1)
    assert "line 2, which runs later" in analysis.summary


def test_assigned_in_a_branch_that_did_not_run() -> None:
    source = "try:\n    model = load()\nexcept Exception:\n    pass\nmodel.fit()\n"
    analysis = analyze_name_error(source, "model", 5)
    assert analysis.bindings[0].conditional == "try"
    assert "inside a `try` block" in analysis.summary


def test_never_assigned_with_a_close_name() -> None:
    analysis = analyze_name_error("modle = 1\nmodel.fit()\n", "model", 2)
    assert "never assigned or imported" in analysis.summary
    assert analysis.similar == ["modle"]


def test_module_never_imported() -> None:
    source = "from tensorflow import keras\nx = layers.Dense(3)\n"
    analysis = analyze_name_error(source, "layers", 2)
    assert analysis.bindings == []
    assert analysis.cause == "not-imported"
    assert "`layers` is used on line 2 but never imported" in analysis.summary
    assert "`from tensorflow.keras import layers`" in analysis.summary


def test_unbound_local() -> None:
    source = "model = 1\ndef train():\n    print(model)\n    model = 2\ntrain()\n"
    analysis = analyze_name_error(source, "model", 3, function="train", unbound_local=True)
    assert "local variable of the whole function" in analysis.summary


def test_unparsable_source_still_answers() -> None:
    assert "not defined" in analyze_name_error("def (:\n", "model", 1).summary


@pytest.mark.parametrize(
    ("source", "early"),
    [
        ("build_model()\nmodel.fit(x)\n", True),  # never bound at module level
        ("model.fit(x)\nmodel = build()\n", True),  # bound only later
        ("def build():\n    model = 1\n    return model\n\nbuild()\nmodel.fit()\n", True),  # only inside
        ("import numpy as np\nmodel = np.zeros(3)\nprint(model)\n", False),
        ("if ok:\n    model = 1\n", True),  # ok is never bound
        ("try:\n    model = load()\nexcept OSError:\n    model = None\n", True),  # load is not bound
        ("def load():\n    return 1\ntry:\n    model = load()\nexcept OSError:\n    model = None\n", False),
        ("from keras import *\nmodel = Sequential()\n", False),  # cannot tell: no guess
        ("model = (\n", True),  # a syntax error ends the run at once
    ],
)
def test_early_name_error_is_predicted_from_the_source(source: str, early: bool) -> None:
    assert predict_early_name_error(source) is early


def test_every_lessons_starter_is_predicted_early_and_no_solution_is() -> None:
    from tutor.lessons.causes import NameCause
    from tutor.lessons.kinds import LessonKind
    from tutor.lessons.lesson import load_lessons

    # notebook-import-cell's starter, run whole, stops at once too, but on ModuleNotFoundError (no google.colab
    # here): no source check can know which modules are installed; its NameError is in the learner's session.
    other_error = {"notebook-import-cell"}
    for lesson in load_lessons().lessons:
        if lesson.kind is LessonKind.PROJECT:  # the page waits this way for one-file programs only
            continue
        # A branch that did not run: no source check knows the condition's value (len(x_train) > 100_000).
        early = lesson.id not in other_error and lesson.cause is not NameCause.BRANCH_NOT_TAKEN
        assert predict_early_name_error(lesson.starter) is early, lesson.id
        assert not predict_early_name_error(lesson.solution), lesson.id


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nx = 1\nprint(y)\n", ("y", 3)),
        ("from keras.layers import *\nm = Dense(3)\nx = Sequential()\n", ("Sequential", 3)),  # Keras's names known
        ("from keras import *\nm = Sequential([layers.Dense(2)])\nK.clear_session()\n", ("K", 3)),
        ("from tensorflow.keras.models import *\nm = Sequential()\nprint(Dense)\n", ("Dense", 3)),
        ("import numpy as np\ndef train():\n    model.fit(np.zeros(3))\nif __name__ == '__main__':\n    train()\n",
         ("model", 3)),  # inside a function the program calls
        ("class A:\n    def go(self):\n        return [y for y in range(3)] + zz\nA().go()\n", ("zz", 3)),
        ("def unused():\n    return ghost\nprint(1)\n", None),  # never called: no NameError
        ("from foo import *\nx = q\n", None),  # names we cannot see
        ("x = (\n", None),
    ],
)  # fmt: skip
def test_the_first_name_error_is_found_from_the_source(source: str, expected) -> None:
    from tutor.grading.name_error import find_static_name_error

    assert find_static_name_error(source) == expected
