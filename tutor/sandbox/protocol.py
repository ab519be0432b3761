"""Every event that crosses the sandbox boundary, defined once: its name, its fields and their shapes, one
encoder and one decoder.

Everything in an event comes from the learner's own process: the harness shares that process with the
learner's code, which can shape any fact the harness reports (an exception whose ``name`` is a Markdown
link, a class called ``<img>``, a line number past the end of the file) or, having found the token, write
events of its own. So the runner decodes every line with ``decode_event`` before anything else uses it:

- a field whose value the learner may legitimately influence but whose meaning is narrow becomes
  *unknown* (``None``) when it has the wrong shape: a NameError's name that is not an identifier, a line
  outside the source, a function name that is not one;
- free text (messages, paths, tracebacks) is kept as text, bounded in length; it is shown as plain text;
- anything else out of shape (an unknown event or field, a wrong type, a number that is not finite, an
  exception type that is not a dotted name) raises ``ProtocolError``: the run is a grader error, never a
  verdict built on it.

Standard library only: the harness loads this very file inside the sandbox (by path, next to itself) to
name its events, so both sides agree by construction.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
import struct
from collections.abc import Callable
from typing import Any

PROTOCOL_VERSION = 1
# Figures a run brings back (matplotlib, rendered to PNG in the sandbox): at most this many, each at most this many
# pixels a side (the harness lowers the dpi) and bytes (it shrinks the image until it fits), all together at most
# MAX_FIGURES_BYTES. A program that makes a thousand figures is told how many it made; the first few are shown.
MAX_FIGURES = 8
MAX_FIGURE_SIDE = 2000
MAX_FIGURE_BYTES = 512 * 1024
MAX_FIGURES_BYTES = 2 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# One event; the largest is a figure (its PNG as base64, 4/3 of its bytes), then an error with its traceback (~30 KiB)
MAX_LINE_BYTES = MAX_FIGURE_BYTES * 4 // 3 + 64 * 1024
# Distinct caught NameErrors (raise line, except line) one run reports: the first explains the bug, and a loop
# that catches a NameError a million times must not flood the channel (the harness sends no more, the runner
# keeps no more).
MAX_CAUGHT_REPORTS = 5


class EventType(enum.StrEnum):
    # From the harness, inside the sandbox
    STARTED = "started"  # the interpreter is up
    READY = "ready"  # a warm sandbox finished importing TensorFlow and Keras
    PHASE = "phase"
    DATASET = "dataset"
    FIT_BEGIN = "fit_begin"
    EPOCH_BEGIN = "epoch_begin"
    BATCH = "batch"
    EPOCH_END = "epoch_end"
    FIT_END = "fit_end"
    LOAD_MODEL = "load_model"
    ERROR = "error"  # the learner's program raised
    CAUGHT_ERROR = "caught_error"  # a NameError the learner's own ``except`` caught (the program went on)
    MODEL = "model"  # what the model name is bound to at the end
    PREDICTIONS = "predictions"
    FIGURE = "figure"  # a matplotlib figure the program showed, saved or left open, as PNG
    FINISHED = "finished"
    HARNESS_ERROR = "harness_error"  # the harness itself failed: our fault
    # Made by the runner and the grader, outside the sandbox (never decoded from a sandbox line)
    OUTPUT = "output"
    CASE = "case"
    RESULT = "result"


SANDBOX_EVENTS = frozenset(EventType) - {EventType.OUTPUT, EventType.CASE, EventType.RESULT}


class Phase(enum.StrEnum):
    """Where a run is, as the pages show it: the harness reports importing/running/loading_data; the run
    manager sets the others."""

    QUEUED = "queued"  # waiting for a sandbox
    STARTING = "starting"  # set by the grader when a case begins
    IMPORTING = "importing"
    RUNNING = "running"
    LOADING_DATA = "loading_data"
    TRAINING = "training"  # set when a fit begins
    FINISHED = "finished"


class FinishStatus(enum.StrEnum):
    OK = "ok"
    EXIT = "exit"  # sys.exit(n), n != 0
    ERROR = "error"  # an uncaught exception (reported in an "error" event)


class ProtocolError(ValueError):
    """An event out of shape. ``field`` is a dotted path such as ``error.type``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TokenMismatch(ValueError):
    """A line on the private channel without the run's token: not the harness (TAMPERED)."""


def encode_event(event_type: str, token: str, elapsed_s: float, fields: dict[str, Any]) -> bytes:
    """One JSON line, as the harness writes it. Values that JSON cannot hold are written as their repr."""
    event = {"v": PROTOCOL_VERSION, "token": token, "type": str(event_type), "t": round(elapsed_s, 3), **fields}
    return (json.dumps(event, default=repr) + "\n").encode()


# --- shapes ------------------------------------------------------------------------------------------
# A shape is called with (value, field path, context) and returns the cleaned value or raises ProtocolError.

Shape = Callable[[Any, str, "Context"], Any]
FUNCTION_PLACEHOLDERS = frozenset({"<module>", "<lambda>", "<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>"})


class Context:
    def __init__(self, source_lines: int | None) -> None:
        self.source_lines = source_lines


class _Optional:
    def __init__(self, shape: Shape) -> None:
        self.shape = shape


def optional(shape: Shape) -> _Optional:
    """The field may be missing or null."""
    return _Optional(shape)


def text(limit: int) -> Shape:
    def check(value: Any, field: str, ctx: Context) -> str:
        if not isinstance(value, str):
            raise ProtocolError(field, f"expected text, got {type(value).__name__}")
        return value[:limit]

    return check


def integer(low: int, high: int) -> Shape:
    def check(value: Any, field: str, ctx: Context) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError(field, f"expected an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise ProtocolError(field, f"{value} is outside {low}..{high}")
        return value

    return check


def number(value: Any, field: str, ctx: Context) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(field, f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ProtocolError(field, "not a finite number")
    return float(value)


def boolean(value: Any, field: str, ctx: Context) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(field, f"expected true or false, got {type(value).__name__}")
    return value


def one_of(*choices: str) -> Shape:
    def check(value: Any, field: str, ctx: Context) -> str:
        if value not in choices:
            raise ProtocolError(field, f"{str(value)[:40]!r} is not one of {', '.join(choices)}")
        return value

    return check


def source_line(value: Any, field: str, ctx: Context) -> int | None:
    """A line of the learner's file. Code compiled under main.py's name can claim any line: outside the
    source it is unknown rather than a line the editor would mark."""
    line = integer(-(2**31), 2**31)(value, field, ctx)
    if line < 1 or (ctx.source_lines is not None and line > ctx.source_lines + 1):  # +1: "unexpected EOF"
        return None
    return line


def is_dotted_name(value: str) -> bool:
    """``keras.src.ops.SomeError`` or ``__main__.f.<locals>.MyError`` (a class defined in a function)."""
    parts = value.split(".")
    return 0 < len(value) <= 300 and all(part.isidentifier() or part == "<locals>" for part in parts)


def dotted_name(value: Any, field: str, ctx: Context) -> str:
    text(300)(value, field, ctx)
    if not is_dotted_name(value):
        raise ProtocolError(field, f"{value[:40]!r} is not a Python name")
    return value


def identifier_or_unknown(value: Any, field: str, ctx: Context) -> str | None:
    """A name the learner's code can set to anything (``NameError(name=...)``): an identifier or unknown."""
    if isinstance(value, str) and value.isidentifier() and len(value) <= 200:
        return value
    return None


def module_file_or_unknown(value: Any, field: str, ctx: Context) -> str | None:
    """A project lesson's module the error is in (``model_def.py``); grading keeps it only when it is one of
    the modules it sent."""
    if isinstance(value, str) and len(value) <= 200 and value.endswith(".py") and value[:-3].isidentifier():
        return value
    return None


def function_or_unknown(value: Any, field: str, ctx: Context) -> str | None:
    if isinstance(value, str) and (value.isidentifier() or value in FUNCTION_PLACEHOLDERS) and len(value) <= 200:
        return value
    return None


def metrics(value: Any, field: str, ctx: Context) -> dict[str, float | None]:
    """Keras logs: metric name -> finite number, or null where training diverged (NaN loss)."""
    if not isinstance(value, dict) or len(value) > 50:
        raise ProtocolError(field, "expected at most 50 metrics")
    cleaned: dict[str, float | None] = {}
    for key, item in value.items():
        name = text(100)(key, f"{field} key", ctx)
        cleaned[name] = None if item is None else number(item, f"{field}.{name[:40]}", ctx)
    return cleaned


def module_names(value: Any, field: str, ctx: Context) -> dict[str, str]:
    """Names defined at module level -> a short kind. ``globals()['a b'] = 1`` is possible: such keys are
    dropped, they are not names a learner could have typed."""
    if not isinstance(value, dict):
        raise ProtocolError(field, "expected a mapping of names")
    cleaned: dict[str, str] = {}
    for key, kind in list(value.items())[:100]:
        kind = text(80)(kind, f"{field}.{str(key)[:40]}", ctx)
        if isinstance(key, str) and key.isidentifier() and len(key) <= 200:
            cleaned[key] = kind
    return cleaned


def classes(value: Any, field: str, ctx: Context) -> list[int]:
    """Labels or predicted classes of the first test digits (a learner's model may have any number of
    outputs, so a prediction need not be a digit)."""
    if not isinstance(value, list) or len(value) > 256:
        raise ProtocolError(field, "expected a list of at most 256 classes")
    return [integer(-(2**31), 2**31)(item, f"{field}[{i}]", ctx) for i, item in enumerate(value)]


def epochs_asked(value: Any, field: str, ctx: Context) -> int | float | str | None:
    """What the program passed as ``epochs``: normally an int; anything else arrives as its repr."""
    if value is None or isinstance(value, str):
        return None if value is None else value[:100]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return number(value, field, ctx)


def png_image(value: Any, field: str, ctx: Context) -> str:
    """A PNG as base64 text, checked to be one (signature, header) within the caps; kept as the text."""
    text(MAX_FIGURE_BYTES * 4 // 3 + 4)(value, field, ctx)
    if len(value) > MAX_FIGURE_BYTES * 4 // 3 + 4:
        raise ProtocolError(field, f"larger than {MAX_FIGURE_BYTES // 1024} KiB")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(field, "not base64") from None
    width, height = png_size(data, field)
    if len(data) > MAX_FIGURE_BYTES or not (1 <= width <= MAX_FIGURE_SIDE and 1 <= height <= MAX_FIGURE_SIDE):
        raise ProtocolError(field, f"a {width}×{height} image of {len(data)} bytes is beyond the figure caps")
    return value


def png_size(data: bytes, field: str = "png") -> tuple[int, int]:
    """(width, height) from a PNG's header, which must come first (IHDR, 13 bytes)."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 24:
        raise ProtocolError(field, "not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def figure_facts(png: str) -> dict[str, int]:
    """Width, height and size of a figure, read from the image itself: never taken from the sandbox's word."""
    data = base64.b64decode(png)
    width, height = png_size(data)
    return {"width": width, "height": height, "bytes": len(data)}


def record(fields: dict[str, Shape | _Optional]) -> Shape:
    def check(value: Any, field: str, ctx: Context) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ProtocolError(field, f"expected an object, got {type(value).__name__}")
        return _check_fields(value, fields, field, ctx)

    return check


def _check_fields(value: dict, fields: dict[str, Shape | _Optional], prefix: str, ctx: Context) -> dict[str, Any]:
    unknown = sorted(str(key)[:40] for key in set(value) - set(fields))
    if unknown:
        raise ProtocolError(f"{prefix}.{unknown[0]}" if prefix else unknown[0], "unknown field")
    cleaned: dict[str, Any] = {}
    for name, shape in fields.items():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(shape, _Optional):
            cleaned[name] = None if value.get(name) is None else shape.shape(value[name], path, ctx)
        elif name not in value:
            raise ProtocolError(path, "missing")
        else:
            cleaned[name] = shape(value[name], path, ctx)
    return cleaned


# --- the events --------------------------------------------------------------------------------------

FIT_INDEX = integer(1, 1_000_000)
COUNT = integer(0, 10**9)
ERROR_FIELDS: dict[str, Shape | _Optional] = {
    "type": dotted_name,
    "qualified_type": dotted_name,
    "message": text(4000),
    "line": optional(source_line),
    "function": optional(function_or_unknown),
    "traceback": text(20000),
    "is_name_error": boolean,
    "name": optional(identifier_or_unknown),
    "module_names": module_names,
    "context": optional(record({"type": dotted_name, "message": text(4000)})),
    "file": optional(module_file_or_unknown),  # a project's module other than the program, where ``line`` is
}
# Nested under "error", as ERROR's are: an event's own "type" names the event.
CAUGHT_FIELDS: dict[str, Shape | _Optional] = {
    "type": dotted_name,
    "name": optional(identifier_or_unknown),
    "message": text(4000),
    "line": optional(source_line),  # where it was raised: the innermost line of the learner's file
    "function": optional(function_or_unknown),  # the function that line is in; None at module level
    "handler_line": optional(source_line),  # the ``except`` that caught it
}
MODEL_FIELDS: dict[str, Shape | _Optional] = {
    "name": identifier_or_unknown,
    "defined": boolean,
    "type": optional(text(200)),
    "is_keras_model": optional(boolean),
    "trained": optional(boolean),
    "loaded": optional(boolean),
    "params": optional(COUNT),
}

EVENT_FIELDS: dict[EventType, dict[str, Shape | _Optional]] = {
    EventType.STARTED: {"pid": integer(1, 2**22), "python": text(40)},
    EventType.READY: {"rss_mb": number},
    EventType.PHASE: {
        "phase": one_of(Phase.IMPORTING, Phase.RUNNING, Phase.LOADING_DATA),
        "module": optional(text(100)),
    },
    EventType.DATASET: {"kind": optional(one_of("real", "standin")), "description": optional(text(500))},
    EventType.FIT_BEGIN: {
        "fit": FIT_INDEX,
        "epochs": optional(epochs_asked),
        "initial_epoch": optional(epochs_asked),
        "line": optional(source_line),
        "model_type": text(200),
    },
    EventType.EPOCH_BEGIN: {"fit": FIT_INDEX, "epoch": COUNT, "steps": optional(COUNT)},
    EventType.BATCH: {"fit": FIT_INDEX, "epoch": COUNT, "step": COUNT, "steps": optional(COUNT)},
    EventType.EPOCH_END: {"fit": FIT_INDEX, "epoch": COUNT, "metrics": metrics},
    EventType.FIT_END: {"fit": FIT_INDEX, "epochs_run": COUNT, "completed": boolean, "error": optional(dotted_name)},
    EventType.LOAD_MODEL: {
        "path": text(1000),
        "ok": boolean,
        "line": optional(source_line),
        "error_type": optional(dotted_name),
        "error": optional(text(2000)),
        "model_type": optional(text(200)),
    },
    EventType.ERROR: {"error": record(ERROR_FIELDS), "stage": one_of("compile", "run")},
    EventType.CAUGHT_ERROR: {"error": record(CAUGHT_FIELDS)},
    EventType.MODEL: {"model": record(MODEL_FIELDS)},
    EventType.PREDICTIONS: {"labels": optional(classes), "predicted": optional(classes), "error": optional(text(500))},
    EventType.FINISHED: {
        "status": one_of(*FinishStatus),
        "exit_code": integer(-(2**31), 2**31),
        "peak_memory_mb": optional(number),
        "figures_made": optional(COUNT),  # figures the program made, shown or not (at most MAX_FIGURES are sent)
    },
    EventType.FIGURE: {"index": integer(1, MAX_FIGURES), "how": one_of("shown", "saved", "open"), "png": png_image},
    EventType.HARNESS_ERROR: {"error": text(2000), "traceback": optional(text(8000))},
}


def _reject_constant(name: str) -> float:
    raise ProtocolError("(event)", f"{name} is not a finite number")


def decode_event(line: bytes, token: str, source_lines: int | None = None) -> dict[str, Any]:
    """One line from the private channel -> a validated event: ``{"type": EventType, "t": float, ...}``
    with exactly the fields of its type, cleaned. Raises TokenMismatch for a line that is not the
    harness's, ProtocolError for one out of shape. ``source_lines``: the learner file's line count."""
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError("(event)", f"longer than {MAX_LINE_BYTES // 1024} KiB")
    try:
        raw = json.loads(line, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except ValueError:
        raise TokenMismatch("not a JSON line") from None
    if not isinstance(raw, dict) or raw.pop("token", None) != token:
        raise TokenMismatch("no valid token")
    if raw.pop("v", None) != PROTOCOL_VERSION:
        raise ProtocolError("v", f"protocol version is not {PROTOCOL_VERSION}")
    kind = raw.pop("type", None)
    if kind not in SANDBOX_EVENTS:
        raise ProtocolError("type", f"{str(kind)[:40]!r} is not a sandbox event")
    ctx = Context(source_lines)
    elapsed = number(raw.pop("t", 0.0), "t", ctx)
    event = _check_fields(raw, EVENT_FIELDS[EventType(kind)], "", ctx)
    if kind == EventType.FIGURE:
        event.update(figure_facts(event["png"]))
    return {"type": EventType(kind), "t": elapsed, **event}
