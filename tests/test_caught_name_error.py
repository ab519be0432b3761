"""A NameError hidden is not a NameError fixed: a NameError (or UnboundLocalError) that the learner's own
``except`` catches is reported (the line that raised it, the ``except`` that swallowed it, the cause), and
``no_name_error`` fails on it. Through the real sandbox: the harness instruments the learner's handlers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tutor.checks.judge import CheckStatus, run_check, run_checks
from tutor.checks.kinds import CheckSpec, Outcome, template_problem
from tutor.grading.diagnosis import diagnose_result
from tutor.grading.verdict import CaseVerdict, Verdict
from tutor.sandbox.protocol import MAX_CAUGHT_REPORTS, EventType, ProtocolError, decode_event, encode_event
from tutor.sandbox.results import CaughtError, ErrorInfo, RunResult, Termination, apply_event
from tutor.sandbox.runner import RunRequest, run_program

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = "A NameError hidden is not a NameError fixed."


def run(source: str) -> RunResult:
    result = run_program(RunRequest(source))
    diagnose_result(result, source)
    return result


def hidden_fit(handler: str) -> str:
    """`model.fit()` on line 3, the ``except`` on line 4; `model` is never assigned."""
    return f"import builtins\ntry:\n    model.fit()\n{handler}\n    print('hidden')\nprint('went on')\n"


# --- the sandbox reports it --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "handler",
    [
        "except NameError:",
        "except Exception:",
        "except:",
        "except (ValueError, NameError):",
        "except BaseException as err:",
        "except builtins.Exception:",
    ],
)
def test_a_caught_name_error_is_reported_with_both_lines(handler: str) -> None:
    result = run(hidden_fit(handler))
    assert result.termination is Termination.FINISHED and result.error is None
    assert result.stdout == "hidden\nwent on\n"  # the program did exactly what it does unreported
    [caught] = result.caught
    assert (caught.type, caught.name, caught.line, caught.handler_line) == ("NameError", "model", 3, 4)
    assert caught.message == "name 'model' is not defined" and caught.function is None
    assert caught.analysis is not None and "`model`" in caught.analysis["diagnosis"]


def test_a_caught_unbound_local_error_names_its_function() -> None:
    source = "model = 1\n\n\ndef train():\n    try:\n        print(model)\n    except UnboundLocalError:\n"
    source += "        pass\n    model = 2\n\n\ntrain()\n"
    [caught] = run(source).caught
    assert (caught.type, caught.name, caught.line, caught.handler_line) == ("UnboundLocalError", "model", 6, 7)
    assert caught.function == "train"
    assert caught.analysis is not None and caught.analysis["unbound_local"] is True


def test_the_raise_line_is_the_innermost_line_of_the_learners_file() -> None:
    source = "def build():\n    return layers.Dense(3)\n\n\ntry:\n    model = build()\nexcept Exception as err:\n"
    source += "    print('fallback after', type(err).__name__)\n"
    result = run(source)
    assert result.stdout == "fallback after NameError\n"
    [caught] = result.caught
    assert (caught.name, caught.line, caught.function, caught.handler_line) == ("layers", 2, "build", 7)


def test_an_except_that_cannot_catch_it_leaves_an_uncaught_name_error_as_before() -> None:
    result = run(hidden_fit("except ValueError:"))
    assert result.caught == []
    assert result.error is not None and result.error.type == "NameError"
    assert (result.error.name, result.error.line) == ("model", 3)


def test_other_exceptions_caught_by_a_broad_except_are_not_reported() -> None:
    result = run("try:\n    int('seven')\nexcept Exception:\n    pass\ntry:\n    {}['k']\nexcept:\n    pass\n")
    assert result.error is None and result.caught == []


def test_a_loop_that_catches_a_name_error_100000_times_reports_it_once_and_finishes_fast() -> None:
    source = "import time\nstart = time.perf_counter()\nfor i in range(100_000):\n    try:\n        missing\n"
    source += "    except NameError:\n        pass\nprint(time.perf_counter() - start)\n"
    started = time.monotonic()
    result = run(source)
    assert result.termination is Termination.FINISHED and result.error is None
    assert [(c.name, c.line, c.handler_line) for c in result.caught] == [("missing", 5, 6)]
    # 100,000 catches took 0.06 s here, 0.04 s uninstrumented: the limit only catches a hook gone slow
    assert float(result.stdout) < 2.0
    assert time.monotonic() - started < 30


def test_at_most_a_few_distinct_caught_name_errors_are_reported() -> None:
    blocks = [f"try:\n    missing_{i}\nexcept NameError:\n    pass\n" for i in range(MAX_CAUGHT_REPORTS + 5)]
    events: list[dict] = []
    result = run_program(RunRequest("".join(blocks)), on_event=events.append)
    assert sum(1 for event in events if event["type"] is EventType.CAUGHT_ERROR) == MAX_CAUGHT_REPORTS  # sent
    assert len(result.caught) == MAX_CAUGHT_REPORTS  # kept
    assert [c.name for c in result.caught] == [f"missing_{i}" for i in range(MAX_CAUGHT_REPORTS)]
    assert [(c.line, c.handler_line) for c in result.caught][:2] == [(2, 3), (6, 7)]


def test_a_syntax_error_is_reported_as_before() -> None:
    result = run("try:\n    x\nexcept NameError:\n    pass\nmodel = build_model(\n")
    assert result.error is not None and result.error.type == "SyntaxError" and result.error.line == 5
    assert result.caught == []
    # One the compiler finds (not the parser): the instrumented tree is refused, the source compiled as is.
    result = run("try:\n    x\nexcept NameError:\n    pass\nreturn 5\n")
    assert result.error is not None and result.error.type == "SyntaxError"
    assert (result.error.line, result.error.message) == (5, "'return' outside function")
    assert result.caught == []


def test_line_numbers_are_unchanged_by_the_instrumentation() -> None:
    source = "try:\n    a\nexcept NameError:\n    pass\n\n\ndef train():\n    try:\n        pass\n"
    source += "    except Exception:\n        pass\n    return missing\n\n\ntrain()\n"
    result = run(source)
    assert [(c.line, c.handler_line) for c in result.caught] == [(2, 3)]
    error = result.error
    assert error is not None and (error.name, error.line, error.function) == ("missing", 12, "train")
    assert "line 15, in <module>\n    train()\n" in error.traceback
    assert "line 12, in train\n    return missing\n" in error.traceback


def test_a_handler_behaves_exactly_as_without_the_report() -> None:
    # sys.exc_info() inside the handler and a bare `raise` see the learner's exception, untouched.
    source = "import sys\ntry:\n    model\nexcept NameError:\n    print(type(sys.exc_info()[1]).__name__)\n    raise\n"
    result = run(source)
    assert result.stdout == "NameError\n"
    assert result.error is not None and (result.error.name, result.error.line) == ("model", 3)
    assert result.error.context is None  # the report raised nothing in the handler
    # At the recursion limit a call in the handler fails: the report's does not reach the learner.
    recursion = "import sys\nsys.setrecursionlimit(300)\n\n\ndef f(n):\n    try:\n        return f(n + 1)\n"
    recursion += "    except {}:\n        return n\n\n\nprint(f(0))\n"
    narrow, broad = (run(recursion.format(kind)) for kind in ("RecursionError", "Exception"))
    assert broad.error is None and broad.stdout == narrow.stdout


# --- the protocol and the result -----------------------------------------------------------------------------


def caught_event(token: str = "t", **overrides) -> bytes:
    error = {"type": "NameError", "name": "model", "message": "name 'model' is not defined", "line": 3,
             "function": None, "handler_line": 4, **overrides}  # fmt: skip
    return encode_event(EventType.CAUGHT_ERROR, token, 0.1, {"error": error})


def test_caught_events_are_validated_like_the_others() -> None:
    event = decode_event(caught_event(name="x` [y](z) `", line=999, function="<lambda>"), "t", source_lines=10)
    assert event["error"]["name"] is None and event["error"]["line"] is None
    assert event["error"]["function"] == "<lambda>" and event["error"]["handler_line"] == 4
    with pytest.raises(ProtocolError) as bad:
        decode_event(caught_event(type="<img src=x>"), "t", source_lines=10)
    assert bad.value.field == "error.type"
    with pytest.raises(ProtocolError) as bad:
        decode_event(caught_event(handler_line="4"), "t", source_lines=10)
    assert bad.value.field == "error.handler_line"


def test_a_result_keeps_each_pair_once_and_at_most_the_cap() -> None:
    result = RunResult(Termination.FINISHED, 1.0)
    for line in [3, 3, *range(10, 20)]:
        apply_event(result, decode_event(caught_event(line=line), "t", source_lines=50))
    assert [c.line for c in result.caught] == [3, 10, 11, 12, 13][:MAX_CAUGHT_REPORTS]


# --- the check and the verdict --------------------------------------------------------------------------------


def test_no_name_error_fails_naming_the_raise_line_and_the_handler_line() -> None:
    outcome = run_check(CheckSpec("no_name_error"), run(hidden_fit("except NameError:")), "model")
    assert outcome.status is CheckStatus.FAILED
    assert outcome.message.startswith(
        "Line 3 raised NameError: name 'model' is not defined, and the `except` on line 4 caught it, so your "
        f"program went on without `model`. {HIDDEN} "
    )
    assert "never assigned" in outcome.message  # the cause, from the analysis


def test_no_name_error_passes_when_only_a_value_error_is_caught() -> None:
    result = run("try:\n    int('seven')\nexcept ValueError:\n    print('not a number')\nmodel = 1\n")
    outcome = run_check(CheckSpec("no_name_error"), result, "model")
    assert outcome.status is CheckStatus.PASSED and outcome.message == "No NameError stopped your program."


def test_a_lesson_message_can_name_the_except_line() -> None:
    template = "Line {line} needs `{name}`; the except on line {handler_line} hid it."
    assert template_problem(template, "no_name_error", Outcome.FAILED) is None
    caught = CaughtError("NameError", "model", "name 'model' is not defined", 24, None, 26)
    result = RunResult(Termination.FINISHED, 1.0, exit_code=0, caught=[caught])
    outcome = run_check(CheckSpec("no_name_error", message=template), result, "model")
    assert outcome.message == "Line 24 needs `model`; the except on line 26 hid it."
    uncaught = ErrorInfo("NameError", "name 'model' is not defined", 24, name="model", is_name_error=True)
    result = RunResult(Termination.FINISHED, 1.0, exit_code=1, error=uncaught, caught=[caught])
    outcome = run_check(CheckSpec("no_name_error", message=template), result, "model")
    assert outcome.message == "Line 24 needs `model`; the except on line None hid it."  # uncaught first


def test_the_verdicts_first_error_says_whether_it_was_caught() -> None:
    caught = CaughtError(
        "NameError", "model", "name 'model' is not defined", 24, None, 26, {"cause": "discarded-result"}
    )
    hidden = RunResult(Termination.FINISHED, 1.0, exit_code=0, caught=[caught])
    specs = (CheckSpec("no_name_error"), CheckSpec("no_error"))
    case = CaseVerdict("default", "Default", False, run_checks(specs, hidden, "model"), hidden)
    verdict = Verdict("lesson", False, [case])
    assert verdict.first_error == {
        "type": "NameError", "name": "model", "line": 24, "message": "name 'model' is not defined",
        "case": "default", "cause": "discarded-result", "caught": True, "handler_line": 26,
    }  # fmt: skip
    error = ErrorInfo("NameError", "name 'x' is not defined", 2, name="x", is_name_error=True,
                      analysis={"cause": "never-assigned"})  # fmt: skip
    stopped = RunResult(Termination.FINISHED, 1.0, exit_code=1, error=error)
    both = Verdict(
        "lesson", False, [CaseVerdict("a", "A", False, [], hidden), CaseVerdict("b", "B", False, [], stopped)]
    )
    first = both.first_error
    assert first is not None and set(first) == set(verdict.first_error)  # one shape
    assert first["case"] == "b" and first["caught"] is False and first["handler_line"] is None
    assert first["cause"] == "never-assigned"  # a NameError's cause (tutor.lessons.causes), uncaught too


def test_an_error_after_a_hidden_name_error_is_not_called_the_same_error() -> None:
    caught = CaughtError("NameError", "build_model", "name 'build_model' is not defined", 2, None, 3)
    later = ErrorInfo("AttributeError", "'NoneType' object has no attribute 'fit'", 5)
    result = RunResult(Termination.FINISHED, 1.0, exit_code=1, error=later, caught=[caught])
    hidden, no_error = run_checks((CheckSpec("no_name_error"), CheckSpec("no_error")), result, "model")
    assert HIDDEN in hidden.message
    assert not no_error.same_error and "AttributeError" in no_error.message and "Line 5" in no_error.message


# --- the whole grade -------------------------------------------------------------------------------------------


@pytest.mark.tf
def test_grade_json_fails_a_solution_whose_name_error_is_hidden(tmp_path: Path) -> None:
    solution = (ROOT / "solutions" / "assign-the-model.py").read_text()
    fit = "model.fit(x_train, y_train, epochs=5, batch_size=32)"
    source = solution.replace("model = build_model()  # keep what build_model() returns\n", "")
    source = source.replace(fit, f"try:\n    {fit}\nexcept NameError:\n    print('no model, no training')")
    assert source != solution and "model = build_model()" not in source
    lines = source.splitlines()
    fit_line, except_line = lines.index(f"    {fit}") + 1, lines.index("except NameError:") + 1
    learner = tmp_path / "attempt.py"
    learner.write_text(source)
    completed = subprocess.run(
        [sys.executable, "-m", "tutor", "grade", str(learner), "--lesson", "assign-the-model", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    verdict = json.loads(completed.stdout)
    assert verdict["passed"] is False and verdict["grader_error"] is None
    check = next(check for check in verdict["checks"] if check["id"] == "no_name_error")
    assert check["status"] == "failed"
    assert f"Line {fit_line} raised NameError: name 'model' is not defined" in check["message"]
    assert f"the `except` on line {except_line} caught it" in check["message"] and HIDDEN in check["message"]
    error = verdict["error"]
    assert error["caught"] is True and error["name"] == "model"
    assert (error["line"], error["handler_line"]) == (fit_line, except_line)


def test_grade_human_output_says_the_name_error_was_hidden(tmp_path: Path) -> None:
    learner = tmp_path / "attempt.py"
    learner.write_text("try:\n    model.fit()\nexcept NameError:\n    pass\n")
    completed = subprocess.run(
        [sys.executable, "-m", "tutor", "grade", str(learner), "--lesson", "assign-the-model"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "Line 2 raised NameError: name 'model' is not defined, and the `except` on line 3" in completed.stdout
