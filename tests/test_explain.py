"""Why `model.fit` found no `fit`: the three AttributeErrors one step after the NameError
(tutor.grading.attribute_error), from the source alone, and nothing said when the source does not show the cause."""

from __future__ import annotations

from tutor.grading.attribute_error import explain_attribute_error

MAKE = "def build_model():\n    model = 1\n{ret}\n"


def test_the_function_itself_not_its_result() -> None:
    source = MAKE.format(ret="    return model") + "model = build_model\nmodel.fit(1)\n"
    explained = explain_attribute_error(source, 5, "'function' object has no attribute 'fit'")
    assert explained is not None and (explained.kind, explained.line, explained.function) == (
        "uncalled-function", 4, "build_model"
    )  # fmt: skip
    assert "line 4 writes `model = build_model` without parentheses" in explained.diagnosis
    assert explained.fix == "Call it and keep what it returns: `model = build_model()`."
    assert explained.to_dict()["summary"] == f"{explained.diagnosis} {explained.fix}"


def test_a_function_without_return_gives_none() -> None:
    source = MAKE.format(ret="    print('ready')") + "model = build_model()\nmodel.fit(1)\n"
    explained = explain_attribute_error(source, 5, "'NoneType' object has no attribute 'fit'")
    assert explained is not None and explained.kind == "no-return"
    assert "`build_model()` has no `return` statement" in explained.diagnosis
    assert explained.fix == "End `build_model()` with `return model`."


def test_a_none_placeholder_the_function_never_changed() -> None:
    source = "model = None\n\ndef setup():\n    model = 1\n\nsetup()\nmodel.fit(1)\n"
    explained = explain_attribute_error(source, 7, "'NoneType' object has no attribute 'fit'")
    assert explained is not None and (explained.kind, explained.line, explained.function) == (
        "placeholder", 1, "setup"
    )  # fmt: skip
    assert "made a new name local to that function" in explained.diagnosis
    assert explained.fix == "Return the model from `setup()` and write `model = setup()`."


def test_nothing_is_said_when_the_source_does_not_show_the_cause() -> None:
    returns = MAKE.format(ret="    if False:\n        return model") + "model = build_model()\nmodel.fit(1)\n"
    cases = [
        (returns, 6, "'NoneType' object has no attribute 'fit'"),  # it returns, on some path: not "no return"
        ("model = None\nmodel.fit(1)\n", 2, "'NoneType' object has no attribute 'fit'"),  # no function involved
        ("model = len\nmodel.fit(1)\n", 2, "'builtin_function_or_method' object has no attribute 'fit'"),
        ("import math\nmath.fit(1)\n", 2, "module 'math' has no attribute 'fit'"),
        ("model = (\n", 2, "'function' object has no attribute 'fit'"),  # does not parse
        ("model = build\nmodel.fit(1)\n", None, "'function' object has no attribute 'fit'"),  # no line
    ]
    for source, line, message in cases:
        assert explain_attribute_error(source, line, message) is None, source
    global_setup = "model = None\n\ndef setup():\n    global model\n    model = 1\n\nmodel.fit(1)\n"
    assert explain_attribute_error(global_setup, 7, "'NoneType' object has no attribute 'fit'") is None
