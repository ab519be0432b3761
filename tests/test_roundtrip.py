"""Every type that crosses a process or the database round-trips, field by field: what ``to_dict`` writes,
through JSON, ``from_dict`` reads back equal (RunResult, CheckResult, CaseVerdict, Verdict, Progress,
RunSnapshot), and every sandbox event the harness encodes decodes to the same fields. A field that one
side writes and the other drops (as Verdict's ``attempt`` and ``empty`` once were, in queue mode) fails
here."""

from __future__ import annotations

import base64
import json
import string
import struct
import zlib
from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from tutor.checks.judge import CheckResult, CheckStatus
from tutor.grading.verdict import CaseVerdict, Verdict
from tutor.runs.contract import Progress, RunSnapshot, RunStatus
from tutor.sandbox.protocol import EventType, Phase, decode_event, encode_event
from tutor.sandbox.results import (
    CaughtError,
    ErrorInfo,
    Figure,
    FitInfo,
    LoadInfo,
    ModelInfo,
    RunResult,
    Termination,
)

TEXT = st.text(max_size=40)
NAME = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=12)
LINE = st.none() | st.integers(1, 500)
FLOAT = st.floats(allow_nan=False, allow_infinity=False, width=64)
JSON_LEAF = st.none() | st.booleans() | st.integers(-(10**9), 10**9) | FLOAT | TEXT
JSON = st.recursive(
    JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)
METRICS = st.dictionaries(NAME, st.none() | FLOAT, max_size=3)

errors = st.builds(
    ErrorInfo, type=NAME, message=TEXT, line=LINE, traceback=TEXT, qualified_type=NAME, function=st.none() | NAME,
    name=st.none() | NAME, is_name_error=st.booleans(), module_names=st.dictionaries(NAME, NAME, max_size=2),
    context=st.none() | st.dictionaries(st.sampled_from(["type", "message"]), TEXT),
    analysis=st.none() | st.dictionaries(NAME, JSON, max_size=3),
)  # fmt: skip
caught_errors = st.builds(
    CaughtError, type=NAME, name=st.none() | NAME, message=TEXT, line=LINE, function=st.none() | NAME,
    handler_line=LINE, analysis=st.none() | st.dictionaries(NAME, JSON, max_size=3),
)  # fmt: skip
fits = st.builds(
    FitInfo, index=st.integers(1, 9), epochs=JSON_LEAF, initial_epoch=JSON_LEAF, line=LINE, model_type=TEXT,
    epochs_run=st.integers(0, 50), completed=st.booleans(), ended=st.booleans(), error=st.none() | NAME,
    history=st.lists(METRICS, max_size=3),
)  # fmt: skip
loads = st.builds(LoadInfo, path=TEXT, ok=st.booleans(), line=LINE, error_type=st.none() | NAME, error=st.none() | TEXT)
models = st.builds(
    ModelInfo, name=NAME, defined=st.booleans(), type=st.none() | TEXT, is_keras_model=st.booleans(),
    trained=st.booleans(), loaded=st.booleans(), params=st.none() | st.integers(0, 10**7),
)  # fmt: skip
figures = st.builds(
    Figure, index=st.integers(1, 8), how=st.sampled_from(["shown", "saved", "open"]), width=st.integers(1, 2000),
    height=st.integers(1, 2000), bytes=st.integers(1, 512 * 1024),
    png=st.binary(max_size=40).map(lambda data: base64.b64encode(data).decode()),
)  # fmt: skip
results = st.builds(
    RunResult, termination=st.sampled_from(Termination), duration_s=FLOAT, exit_code=st.none() | st.integers(-9, 9),
    signal=st.none() | NAME, error=st.none() | errors, fits=st.lists(fits, max_size=2),
    loads=st.lists(loads, max_size=2), model=st.none() | models,
    dataset=st.none() | st.sampled_from(["real", "standin"]), dataset_description=st.none() | TEXT,
    stdout=TEXT, stderr=TEXT, output_truncated=st.booleans(),
    predictions=st.none() | st.dictionaries(NAME, st.lists(st.integers(0, 9), max_size=4), max_size=2),
    detail=TEXT, isolation=TEXT, peak_memory_mb=st.none() | FLOAT, warm=st.booleans(),
    caught=st.lists(caught_errors, max_size=2), figures=st.lists(figures, max_size=2),
    figures_made=st.integers(0, 10**4),
)  # fmt: skip
checks = st.builds(
    CheckResult,
    id=NAME,
    passed=st.booleans(),
    message=TEXT,
    case=NAME,
    status=st.none() | st.sampled_from(CheckStatus),
    same_error=st.booleans(),
)
case_verdicts = st.builds(
    CaseVerdict, case=NAME, title=TEXT, passed=st.booleans(), checks=st.lists(checks, max_size=3),
    result=st.none() | results,
)  # fmt: skip
verdicts = st.builds(
    Verdict, lesson=NAME, passed=st.booleans(), cases=st.lists(case_verdicts, max_size=2),
    grader_error=st.none() | TEXT, checks=st.lists(checks, max_size=3), attempt=st.booleans(), empty=st.booleans(),
)  # fmt: skip
progresses = st.builds(
    Progress, phase=st.sampled_from(Phase), case=st.none() | NAME, case_title=st.none() | TEXT,
    epochs=st.none() | st.integers(1, 50), epoch=st.integers(0, 50), step=st.integers(0, 5000),
    steps=st.none() | st.integers(0, 5000), history=st.lists(METRICS, max_size=3), dataset=st.none() | NAME,
    note=st.none() | TEXT,
)  # fmt: skip
snapshots = st.builds(
    RunSnapshot, id=st.integers(1, 10**6), owner=NAME, lesson_id=NAME, source=TEXT, state=st.sampled_from(RunStatus),
    progress=progresses, output=TEXT, verdict=st.none() | verdicts, error=st.none() | TEXT,
    queue_position=st.none() | st.integers(1, 99), created=FLOAT, started=st.none() | FLOAT,
    finished=st.none() | FLOAT, attempts=st.integers(0, 3), worker=st.none() | NAME,
)  # fmt: skip


def through_json(data: dict) -> dict:
    return json.loads(json.dumps(data))


def assert_same_fields(read, written) -> None:
    """Field by field, so a failure names the field that was lost."""
    for field in fields(written):
        assert getattr(read, field.name) == getattr(written, field.name), field.name


@settings(max_examples=60, deadline=None)
@given(results)
def test_run_result_round_trips(result: RunResult) -> None:
    assert_same_fields(RunResult.from_dict(through_json(result.to_dict())), result)


@settings(max_examples=60, deadline=None)
@given(checks)
def test_check_result_round_trips(check: CheckResult) -> None:
    assert_same_fields(CheckResult.from_dict(through_json(check.to_dict())), check)


@settings(max_examples=40, deadline=None)
@given(case_verdicts)
def test_case_verdict_round_trips(case: CaseVerdict) -> None:
    assert_same_fields(CaseVerdict.from_dict(through_json(case.to_dict())), case)


@settings(max_examples=40, deadline=None)
@given(verdicts)
def test_verdict_round_trips(verdict: Verdict) -> None:
    assert_same_fields(Verdict.from_dict(through_json(verdict.to_dict())), verdict)


def test_a_run_result_stored_before_caught_errors_reads_back_with_none() -> None:
    # The field is additive (RESULT_VERSION stays 1): verdicts in databases have no "caught".
    data = through_json(RunResult(Termination.FINISHED, 1.0).to_dict())
    del data["caught"]
    assert RunResult.from_dict(data).caught == []


def test_a_run_result_stored_before_figures_reads_back_with_none() -> None:
    data = through_json(RunResult(Termination.FINISHED, 1.0).to_dict())
    del data["figures"], data["figures_made"]
    read = RunResult.from_dict(data)
    assert (read.figures, read.figures_made) == ([], 0)


def test_the_unchanged_starter_stays_no_attempt_through_json() -> None:
    # The bug this file was written for: queue mode read every verdict back as an attempt.
    for attempt, empty in ((False, False), (False, True), (True, False)):
        verdict = Verdict("lesson", False, [], attempt=attempt, empty=empty)
        read = Verdict.from_dict(through_json(verdict.to_dict()))
        assert (read.attempt, read.empty) == (attempt, empty)


@settings(max_examples=60, deadline=None)
@given(progresses)
def test_progress_round_trips(progress: Progress) -> None:
    assert_same_fields(Progress.from_dict(through_json(progress.to_dict())), progress)


@settings(max_examples=30, deadline=None)
@given(snapshots)
def test_run_snapshot_round_trips(snapshot: RunSnapshot) -> None:
    assert_same_fields(RunSnapshot.from_dict(through_json(snapshot.to_dict())), snapshot)


EVENTS = st.one_of(
    st.tuples(st.just(EventType.EPOCH_END), st.fixed_dictionaries(
        {"fit": st.integers(1, 9), "epoch": st.integers(0, 99), "metrics": METRICS})),
    st.tuples(st.just(EventType.BATCH), st.fixed_dictionaries(
        {"fit": st.integers(1, 9), "epoch": st.integers(0, 99), "step": st.integers(0, 10**6),
         "steps": st.none() | st.integers(0, 10**6)})),
    st.tuples(st.just(EventType.FIT_BEGIN), st.fixed_dictionaries(
        {"fit": st.integers(1, 9), "epochs": st.none() | st.integers(0, 99),
         "initial_epoch": st.none() | st.integers(0, 9), "line": LINE,
         "model_type": st.text(string.ascii_letters, max_size=30)})),
    st.tuples(st.just(EventType.FIT_END), st.fixed_dictionaries(
        {"fit": st.integers(1, 9), "epochs_run": st.integers(0, 99), "completed": st.booleans(),
         "error": st.none() | NAME})),
    st.tuples(st.just(EventType.CAUGHT_ERROR), st.fixed_dictionaries({"error": st.fixed_dictionaries(
        {"type": NAME, "name": st.none() | NAME, "message": TEXT, "line": LINE, "function": st.none() | NAME,
         "handler_line": LINE})})),
    st.tuples(st.just(EventType.MODEL), st.fixed_dictionaries({"model": st.fixed_dictionaries(
        {"name": NAME, "defined": st.booleans(), "type": st.none() | st.text(string.ascii_letters, max_size=20),
         "is_keras_model": st.none() | st.booleans(), "trained": st.none() | st.booleans(),
         "loaded": st.none() | st.booleans(), "params": st.none() | st.integers(0, 10**6)})})),
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(EVENTS, FLOAT.filter(lambda t: 0 <= t < 10**6))
def test_sandbox_events_decode_to_what_was_encoded(event: tuple, elapsed: float) -> None:
    kind, values = event
    decoded = decode_event(encode_event(kind, "token", elapsed, values), "token", source_lines=500)
    assert decoded.pop("type") is kind
    assert decoded.pop("t") == round(elapsed, 3)
    assert decoded == values


def png(width: int, height: int) -> bytes:
    """A valid grey PNG of that size (standard library only)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.sampled_from(["shown", "saved", "open"]), st.integers(1, 300), st.integers(1, 300))
def test_a_figure_event_decodes_with_its_size_read_from_the_image(
    index: int, how: str, width: int, height: int
) -> None:
    data = png(width, height)
    values = {"index": index, "how": how, "png": base64.b64encode(data).decode()}
    decoded = decode_event(encode_event(EventType.FIGURE, "token", 1.0, values), "token")
    assert decoded == {"type": EventType.FIGURE, "t": 1.0, **values, "width": width, "height": height,
                       "bytes": len(data)}  # fmt: skip
