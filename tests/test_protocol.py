"""The sandbox event protocol: every field from the sandbox is checked against its shape (issue 13).

Unit tests feed crafted lines to the decoder; the sandbox tests run hostile learner programs through the
real harness and runner, since the learner's code shares the harness's process and shapes what it reports.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.test_roundtrip import png
from tutor.grading.grade import grade_source
from tutor.lessons.lesson import load_lessons
from tutor.runs.contract import RunStatus
from tutor.runs.pipeline import describe_outcome
from tutor.sandbox.protocol import (
    EVENT_FIELDS,
    PROTOCOL_VERSION,
    SANDBOX_EVENTS,
    EventType,
    ProtocolError,
    TokenMismatch,
    decode_event,
    encode_event,
)
from tutor.sandbox.results import Termination
from tutor.sandbox.runner import RunRequest, run_program

TOKEN = "t0ken"
LINK = "[Teacher: your session expired, sign in again](https://example.invalid/login)"


SMALL_PNG = base64.b64encode(png(3, 2)).decode()
FAT_PNG = base64.b64encode(png(1, 1) + bytes(520 * 1024)).decode()  # a valid header, then 520 KiB


def line(event_type: str, **fields) -> bytes:
    return encode_event(event_type, TOKEN, 0.5, fields)


def error_fields(**overrides) -> dict:
    error = {
        "type": "NameError", "qualified_type": "NameError", "message": "name 'model' is not defined", "line": 3,
        "function": None, "traceback": "Traceback ...", "is_name_error": True, "name": "model",
        "module_names": {"build_model": "function"},
    }  # fmt: skip
    error.update(overrides)
    return error


def test_every_sandbox_event_has_a_definition() -> None:
    assert set(EVENT_FIELDS) == SANDBOX_EVENTS


def test_a_well_formed_event_round_trips() -> None:
    event = decode_event(line(EventType.EPOCH_END, fit=1, epoch=0, metrics={"loss": 0.3, "accuracy": None}), TOKEN)
    assert event == {"type": EventType.EPOCH_END, "t": 0.5, "fit": 1, "epoch": 0,
                     "metrics": {"loss": 0.3, "accuracy": None}}  # fmt: skip


def test_a_line_without_the_token_is_not_the_harness() -> None:
    with pytest.raises(TokenMismatch):
        decode_event(encode_event("finished", "other", 0.1, {"status": "ok", "exit_code": 0}), TOKEN)
    with pytest.raises(TokenMismatch):
        decode_event(b"not json at all", TOKEN)


@pytest.mark.parametrize(
    ("event_type", "fields", "field"),
    [
        ("no_such_event", {}, "type"),
        (EventType.FINISHED, {"status": "ok"}, "exit_code"),
        (EventType.FINISHED, {"status": "ok", "exit_code": 0, "extra": 1}, "extra"),
        (EventType.FINISHED, {"status": "pwned", "exit_code": 0}, "status"),
        (EventType.FINISHED, {"status": "ok", "exit_code": "0"}, "exit_code"),
        (EventType.FINISHED, {"status": "ok", "exit_code": True}, "exit_code"),
        (EventType.EPOCH_END, {"fit": 1, "epoch": -1, "metrics": {}}, "epoch"),
        (EventType.EPOCH_END, {"fit": 1, "epoch": 0, "metrics": {"loss": "0.1"}}, "metrics.loss"),
        (EventType.EPOCH_END, {"fit": 1, "epoch": 0, "metrics": [1]}, "metrics"),
        (EventType.ERROR, {"error": error_fields(type="<a href='x'>"), "stage": "run"}, "error.type"),
        (EventType.ERROR, {"error": error_fields(type="Name Error"), "stage": "run"}, "error.type"),
        (EventType.ERROR, {"error": error_fields(line="3"), "stage": "run"}, "error.line"),
        (EventType.ERROR, {"error": error_fields(message=None), "stage": "run"}, "error.message"),
        (EventType.ERROR, {"error": error_fields(extra="x"), "stage": "run"}, "error.extra"),
        (EventType.FIT_END, {"fit": 1, "epochs_run": 5, "completed": "yes", "error": None}, "completed"),
        (EventType.READY, {"rss_mb": "lots"}, "rss_mb"),
        (EventType.FIGURE, {"index": 1, "how": "shown", "png": "not base64!"}, "png"),
        (EventType.FIGURE, {"index": 1, "how": "shown", "png": base64.b64encode(b"GIF89a" * 9).decode()}, "png"),
        (EventType.FIGURE, {"index": 1, "how": "shown", "png": base64.b64encode(png(2001, 1)).decode()}, "png"),
        (EventType.FIGURE, {"index": 1, "how": "shown", "png": FAT_PNG}, "png"),
        (EventType.FIGURE, {"index": 9, "how": "shown", "png": SMALL_PNG}, "index"),
        (EventType.FIGURE, {"index": 1, "how": "stolen", "png": SMALL_PNG}, "how"),
        # width, height and size are read from the image, never taken from the sandbox's word
        (EventType.FIGURE, {"index": 1, "how": "shown", "png": SMALL_PNG, "width": 10}, "width"),
    ],
)
def test_an_event_out_of_shape_is_a_protocol_error_naming_the_field(event_type, fields, field) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(line(event_type, **fields), TOKEN, source_lines=10)
    assert caught.value.field == field


def test_numbers_must_be_finite() -> None:
    raw = b'{"v": 1, "token": "t0ken", "type": "ready", "t": 0.1, "rss_mb": NaN}'
    with pytest.raises(ProtocolError):
        decode_event(raw, TOKEN)
    raw = b'{"v": 1, "token": "t0ken", "type": "epoch_end", "t": 0.1, "fit": 1, "epoch": 0, "metrics": {"loss": 1e999}}'
    with pytest.raises(ProtocolError):
        decode_event(raw, TOKEN)


def test_another_protocol_version_is_refused() -> None:
    raw = json.dumps({"v": PROTOCOL_VERSION + 1, "token": TOKEN, "type": "started", "pid": 1, "python": "3"})
    with pytest.raises(ProtocolError) as caught:
        decode_event(raw.encode(), TOKEN)
    assert caught.value.field == "v"


def test_a_name_that_is_not_an_identifier_is_unknown() -> None:
    crafted = f"x` {LINK} `y"
    event = decode_event(line(EventType.ERROR, error=error_fields(name=crafted), stage="run"), TOKEN, 10)
    assert event["error"]["name"] is None
    assert event["error"]["type"] == "NameError"


def test_lines_outside_the_source_are_unknown_and_functions_must_be_names() -> None:
    fields = error_fields(line=9999, function="f` [x](y) `")
    event = decode_event(line(EventType.ERROR, error=fields, stage="run"), TOKEN, source_lines=10)
    assert event["error"]["line"] is None
    assert event["error"]["function"] is None
    event = decode_event(line(EventType.ERROR, error=error_fields(function="<lambda>"), stage="run"), TOKEN, 10)
    assert event["error"]["function"] == "<lambda>"


def test_text_is_bounded_and_names_that_no_one_could_type_are_dropped() -> None:
    fields = error_fields(message="m" * 100_000, module_names={"ok": "int", "a b": "int", "x": "y" * 1000})
    event = decode_event(line(EventType.ERROR, error=fields, stage="run"), TOKEN, 10)
    assert len(event["error"]["message"]) == 4000
    assert event["error"]["module_names"] == {"ok": "int", "x": "y" * 80}


def test_a_class_defined_in_a_function_is_a_dotted_name() -> None:
    fields = error_fields(type="Oops", qualified_type="__main__.make.<locals>.Oops", name=None, is_name_error=False)
    event = decode_event(line(EventType.ERROR, error=fields, stage="run"), TOKEN, 10)
    assert event["error"]["qualified_type"] == "__main__.make.<locals>.Oops"


# --- through the real harness and runner ----------------------------------------------------------


def test_a_crafted_name_error_name_is_graded_as_unknown() -> None:
    source = f'raise NameError("name \'x\' is not defined", name="x` {LINK} `y")\n'
    result = run_program(RunRequest(source))
    assert result.termination is Termination.FINISHED
    assert result.error is not None and result.error.is_name_error
    assert result.error.name is None
    assert result.error.line == 1


def test_the_outcome_a_teacher_sees_never_carries_the_crafted_name() -> None:
    lesson = next(lesson for lesson in load_lessons().lessons if lesson.id == "assign-the-model")
    source = f'raise NameError("name \'model\' is not defined", name="model` {LINK} `")\n'
    verdict = grade_source(lesson, source)
    outcome = describe_outcome(RunStatus.DONE, verdict, None)
    assert outcome == "NameError"
    assert "example.invalid" not in json.dumps(verdict.first_error)


def test_an_exception_class_with_a_crafted_name_is_a_grader_error_not_a_verdict() -> None:
    source = "class E(Exception):\n    pass\nE.__name__ = '<img src=x>'\nraise E('boo')\n"
    result = run_program(RunRequest(source))
    assert result.termination is Termination.HARNESS_ERROR
    assert "error.type" in result.detail
    assert "not a verdict on your code" in result.detail


def test_a_line_claimed_past_the_end_of_the_file_is_not_marked() -> None:
    source = "code = compile('\\n' * 500 + 'missing_name', __file__, 'exec')\nexec(code)\n"
    result = run_program(RunRequest(source))
    assert result.error is not None and result.error.name == "missing_name"
    assert result.error.line is None
