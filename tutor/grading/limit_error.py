"""Errors the sandbox's limits cause inside the learner's program: the program goes on and ends with an
ordinary exception (``BlockingIOError`` from ``os.fork``, ``OSError: [Errno 28] No space left on device``),
whose words name neither the limit nor its size. The explanation says which limit, and how big it is, in the
same dict shape as the other explanations; the sentences themselves live in tutor.sandbox.wording."""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass

from tutor.grading.explained import Explained
from tutor.sandbox import wording
from tutor.sandbox.isolation import Level, Limits
from tutor.sandbox.results import ErrorInfo

ERRNO = re.compile(r"^\[Errno (\d+)\]")
# Where a refused EAGAIN comes from a process or thread start (not, say, a non-blocking socket).
STARTS = ("fork", "start_new_thread", "_launch", "Popen", "spawn")


@dataclass(frozen=True)
class LimitExplanation(Explained):
    limit: str  # which one: processes, disk, file_size, open_files
    diagnosis: str
    fix: str

    def to_dict(self) -> dict:
        return self.explained_dict("sandbox-limit")


def explain_limit_error(error: ErrorInfo, limits: Limits, isolation: str) -> LimitExplanation | None:
    """Which of the sandbox's limits ``error`` ran into, or None when it is not one of them."""
    match = ERRNO.match(error.message or "")
    code = int(match.group(1)) if match else None
    trace = error.traceback or ""
    strict = isolation != Level.BASIC
    if (code == errno.EAGAIN and any(start in trace for start in STARTS)) or (
        error.type == "RuntimeError" and "can't start new thread" in (error.message or "")
    ):
        return LimitExplanation(
            "processes",
            wording.process_limit_error(limits),
            "Start fewer at once: a pool of 2 to 8 workers is plenty here.",
        )
    if code == errno.ENOSPC:
        shared = "/dev/shm" in trace or "/dev/shm" in error.message or "multiprocessing" in trace
        return LimitExplanation(
            "disk",
            wording.disk_full_error(limits, shared, strict),
            "Write less, or delete files you no longer need before writing more.",
        )
    if code == errno.EFBIG:
        return LimitExplanation("file_size", wording.file_too_large_error(limits), "Write a smaller file.")
    if code == errno.EMFILE:
        return LimitExplanation(
            "open_files",
            wording.open_files_error(limits),
            "Close each file when you are done with it (`with open(...) as f:` does that for you).",
        )
    return None
