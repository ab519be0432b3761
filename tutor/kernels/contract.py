"""What a notebook cell's run gives back, as plain data: the one definition the kernels wing, the pages and
the proofs share."""

from __future__ import annotations

import base64
import binascii
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tutor.sandbox.protocol import MAX_FIGURE_BYTES

if TYPE_CHECKING:
    from tutor.sandbox.isolation import Limits

# What a run read back from elsewhere (queue mode: a worker's row in the database) may hold at most; more is
# refused at the boundary (``from_dict`` raises ValueError), never shown. Generous against what a kernel
# keeps (the cell's output cap, figures of at most MAX_FIGURE_BYTES, as tutor.kernels.process keeps them).
MAX_TEXT_CHARS = 4 * 1024 * 1024
MAX_TRACEBACK_CHARS = 20_000
MAX_NAME_CHARS = 200
MAX_NOTE_CHARS = 4000
MAX_OUTPUTS = 20_000


class OutputKind(enum.StrEnum):
    STREAM = "stream"  # print(...) and Keras's progress bar: name says stdout or stderr
    RESULT = "result"  # the value of a cell's last expression (Out[n]) or display(...), as text
    IMAGE = "image"  # a figure: PNG bytes
    ERROR = "error"  # the exception that stopped the cell


class CellStatus(enum.StrEnum):
    OK = "ok"
    ERROR = "error"  # the learner's code raised
    INTERRUPTED = "interrupted"  # Stop, the cell's time limit or its output cap (the kernel lives on)
    DIED = "died"  # the kernel process ended (memory, a crash, os._exit): its state is gone
    NOT_RUN = "not_run"  # Run all stopped at an earlier error, or the kernel could not start


class KernelState(enum.StrEnum):
    NONE = "none"  # no kernel yet: the first Run starts one
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"  # "your kernel died — restart it", as Jupyter says
    SHUT_DOWN = "shut_down"  # idle too long (or the host needed room): state gone, told to the learner


@dataclass(frozen=True)
class CellOutput:
    kind: OutputKind
    text: str = ""
    name: str = ""  # stream: stdout / stderr; error: the exception's type
    png: bytes | None = None
    traceback: str = ""  # error only, plain text

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": str(self.kind), "text": self.text, "name": self.name}
        if self.traceback:
            data["traceback"] = self.traceback
        if self.png is not None:
            data["png_bytes"] = len(self.png)
            data["png"] = base64.b64encode(self.png).decode("ascii")
        return data

    @classmethod
    def from_dict(cls, data: Any) -> CellOutput:
        """The inverse of ``to_dict``, for data from elsewhere: every field's type and size is checked
        (ValueError when one is wrong); a figure must be a PNG within the cap."""
        if not isinstance(data, dict):
            raise ValueError("an output is not an object")
        kind = OutputKind(_text(data, "kind", 20))
        png = None
        if data.get("png") is not None:
            encoded = data["png"]
            if kind is not OutputKind.IMAGE or not isinstance(encoded, str):
                raise ValueError("png: only an image has one, as base64 text")
            if len(encoded) > (MAX_FIGURE_BYTES + 2) // 3 * 4 + 4:
                raise ValueError("png: larger than a figure may be")
            try:
                png = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("png: not base64") from exc
            if not png.startswith(b"\x89PNG") or len(png) > MAX_FIGURE_BYTES:
                raise ValueError("png: not a PNG within the figure cap")
        elif kind is OutputKind.IMAGE:
            raise ValueError("an image without its png")
        return cls(
            kind,
            _text(data, "text", MAX_TEXT_CHARS),
            _text(data, "name", MAX_NAME_CHARS),
            png,
            _text(data, "traceback", MAX_TRACEBACK_CHARS),
        )


@dataclass
class CellRun:
    """One cell's run in a kernel. ``execution_count`` is Jupyter's In [n]."""

    cell_id: str
    status: CellStatus = CellStatus.NOT_RUN
    execution_count: int | None = None
    outputs: list[CellOutput] = field(default_factory=list)
    duration_s: float = 0.0
    note: str = ""  # in words, when the status is not OK or ERROR (why it stopped)

    @property
    def error(self) -> CellOutput | None:
        return next((output for output in self.outputs if output.kind is OutputKind.ERROR), None)

    def stream_text(self) -> str:
        return "".join(output.text for output in self.outputs if output.kind is OutputKind.STREAM)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "status": str(self.status),
            "execution_count": self.execution_count,
            "outputs": [output.to_dict() for output in self.outputs],
            "duration_s": self.duration_s,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Any) -> CellRun:
        """The inverse of ``to_dict``, for data from elsewhere (queue mode: a worker's row): types and sizes
        are checked, ValueError when one is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a cell's run is not an object")
        count = data.get("execution_count")
        if count is not None and (type(count) is not int or not 0 <= count < 2**31):
            raise ValueError("execution_count: not a count")
        duration = data.get("duration_s", 0.0)
        if type(duration) not in (int, float) or not math.isfinite(duration) or duration < 0:
            raise ValueError("duration_s: not a duration")
        outputs = data.get("outputs", [])
        if not isinstance(outputs, list) or len(outputs) > MAX_OUTPUTS:
            raise ValueError("outputs: not a list of outputs")
        return cls(
            _text(data, "cell_id", MAX_NAME_CHARS),
            CellStatus(_text(data, "status", 20)),
            count,
            [CellOutput.from_dict(output) for output in outputs],
            float(duration),
            _text(data, "note", MAX_NOTE_CHARS),
        )


@dataclass(frozen=True)
class KernelInfo:
    """What the page shows about a learner's kernel."""

    state: KernelState
    message: str = ""  # e.g. why it is gone
    execution_count: int = 0  # the last In [n]
    idle_s: float = 0.0
    shutdown_after_s: float = 0.0  # idle time after which it is shut down
    warm: bool = False  # started from a warm sandbox (TensorFlow already imported)


class CellBatchView(Protocol):
    """Cells sent together (one cell, or Run all), as the page polls them: ``snapshot`` gives copies of the
    runs so far (the last one may still be running) and whether the batch is done."""

    cells: list[tuple[str, str]]  # (cell id, code)

    def snapshot(self) -> tuple[list[CellRun], bool]: ...

    def wait(self, timeout_s: float) -> bool: ...


class KernelService(Protocol):
    """The notebook kernels as the pages use them, in both run modes: this host's kernels
    (tutor.kernels.hub.KernelHub, local mode) or kernels on the queue's workers, each on one worker
    (tutor.runs.queue.kernels.QueueKernels)."""

    def info(self, owner: str, lesson_id: str) -> KernelInfo: ...

    def run_cells(
        self,
        owner: str,
        lesson_id: str,
        cells: Sequence[tuple[str, str]],
        limits: Limits | None = None,
        files: dict[str, bytes] | None = None,
    ) -> CellBatchView:
        """Run cells in the learner's kernel (starting one when there is none), in the background."""
        ...

    def stop(self, owner: str, lesson_id: str) -> None:
        """Interrupt the running cell; the kernel and its variables stay."""
        ...

    def restart(self, owner: str, lesson_id: str) -> None:
        """Jupyter's Restart: the kernel and every variable in it go; the next cell starts a fresh one."""
        ...

    def shutdown(self, owner: str, lesson_id: str, message: str = "") -> None: ...

    def close(self) -> None: ...


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{key}: not text of at most {limit} characters")
    return value
