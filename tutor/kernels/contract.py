"""What a notebook cell's run gives back, as plain data: the one definition the kernels wing, the pages and
the proofs share."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


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
        return data


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


@dataclass(frozen=True)
class KernelInfo:
    """What the page shows about a learner's kernel."""

    state: KernelState
    message: str = ""  # e.g. why it is gone
    execution_count: int = 0  # the last In [n]
    idle_s: float = 0.0
    shutdown_after_s: float = 0.0  # idle time after which it is shut down
    warm: bool = False  # started from a warm sandbox (TensorFlow already imported)
