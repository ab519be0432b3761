"""How a run ended, in the learner's words: every sentence the runner puts in ``RunResult.detail``, in one
place (the runner decides *what* happened; this module says it). Learner-controlled evidence quoted here
(a line written on the grader's channel, the sandbox's last stderr line) is bounded; pages show all of it
as plain text (ui/plain.py).
"""

from __future__ import annotations

from tutor.sandbox.isolation import Limits

NOT_YOUR_CODE = "This is a problem with the grader's setup, not with your code: please tell your teacher."


def describe_size(mib: int) -> str:
    return f"{mib / 1024:g} GiB" if mib >= 1024 else f"{mib} MiB"


def sandbox_unavailable(reason: object) -> str:
    return f"The sandbox could not start: {reason}"


def sandbox_without_python(how: str, last_stderr_line: str | None) -> str:
    words = f"The sandbox could not start Python ({how}), so your program did not run. {NOT_YOUR_CODE}"
    return f"{words} The sandbox said: {last_stderr_line[:300]}" if last_stderr_line else words


def tampered(sample: str) -> str:
    return (
        "Something other than the grader wrote on the grader's private channel "
        f"({sample[:80]!r}), so this run cannot be trusted or graded."
    )


def malformed_report(problem: str) -> str:
    return (
        f"The sandbox sent the grader a report out of shape ({problem[:200]}), so this run cannot be graded. "
        "This is not a verdict on your code."
    )


def harness_failed(error: str) -> str:
    return f"The grader itself failed (not your code): {error}"


def timed_out(limits: Limits) -> str:
    return f"Your program was stopped after {limits.wall_s:g} s, the time limit for this run."


def cancelled() -> str:
    return "The run was stopped before it finished."


def output_limit(limits: Limits) -> str:
    return f"Your program printed more than {limits.output_kb} KiB of output, so it was stopped."


def output_cut_marker(limits: Limits) -> str:
    """Appended to the captured output where it was cut."""
    return f"\n[output cut: your program printed more than {limits.output_kb} KiB]"


def out_of_memory(limits: Limits) -> str:
    return f"Your program ran out of memory (limit {describe_size(limits.memory_mb)}), so it was stopped."


def too_many_processes(limits: Limits) -> str:
    return f"Your program started too many processes or threads (limit {limits.processes})."


def process_limit_error(limits: Limits) -> str:
    """A fork or thread start refused (BlockingIOError / "can't start new thread"): the program goes on and
    ends with that error, so it is said as an explanation of the error, not as a termination."""
    return (
        f"Your program tried to start more processes or threads than this sandbox allows (limit {limits.processes}, "
        "threads included), so the system refused to start another one."
    )


def open_files_error(limits: Limits) -> str:
    return f"Your program had more files open at once than this sandbox allows (limit {limits.open_files})."


def file_too_large_error(limits: Limits) -> str:
    return f"Your program tried to write a file larger than {limits.file_size_mb} MiB, the limit for one file."


def disk_full_error(limits: Limits, shared_memory: bool, strict: bool) -> str:
    """No space left: where the run may write, and how much each place holds (isolation.build_launch)."""
    if not strict:  # basic: the folders are the computer's own, with no size of ours
        return "The disk your program writes to is full."
    if shared_memory:
        return f"Your program filled /dev/shm, the sandbox's shared memory ({describe_size(limits.shm_mb)})."
    return (
        f"Your program filled the space it may write to: your working folder holds {describe_size(limits.disk_mb)}, "
        f"/tmp {describe_size(limits.tmp_mb)} and /dev/shm (shared memory, used by multiprocessing) "
        f"{describe_size(limits.shm_mb)}."
    )


def exited(exit_code: int | None) -> str:
    return f"Your program called sys.exit({exit_code}) before it finished."


def crashed(signal_name: str | None, exit_code: int | None, limits: Limits) -> str:
    if signal_name == "SIGBUS":  # what touching a page of a full tmpfs gives: shared memory past /dev/shm's size
        return (
            f"Your program crashed (SIGBUS). This often means it filled /dev/shm, the sandbox's shared memory "
            f"(limit {describe_size(limits.shm_mb)}), or crashed inside a native library."
        )
    if signal_name in ("SIGSEGV", "SIGABRT", "SIGKILL"):
        return (
            f"Your program crashed ({signal_name}). This often means it ran out of memory "
            f"(limit {describe_size(limits.memory_mb)}) or crashed inside a native library."
        )
    if signal_name == "SIGXCPU":
        return "Your program used too much CPU time and was stopped."
    if signal_name == "SIGXFSZ":
        return f"Your program wrote a file larger than {limits.file_size_mb} MiB and was stopped."
    if signal_name is not None:
        return f"Your program was ended by the signal {signal_name}."
    return (
        f"Your program ended abruptly with exit status {exit_code} before it finished "
        "(for example through os._exit()), so nothing after that point could be checked."
    )
