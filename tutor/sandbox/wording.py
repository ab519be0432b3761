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


def exited(exit_code: int | None) -> str:
    return f"Your program called sys.exit({exit_code}) before it finished."


def crashed(signal_name: str | None, exit_code: int | None, limits: Limits) -> str:
    if signal_name in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGKILL"):
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
