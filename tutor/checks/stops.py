"""Why a check could not be judged: the program never ran (a syntax error), did not run to its end (time
limit, crash, ...), or an error stopped it before the point the check looks at. That is the reason, said
in words once, and the check is "not reached" (issue 11), not failed.

The paths below are the facts those findings give (see tutor.checks.kinds.FactPath); the kinds in
tutor.checks.builtin that use ``not_run`` / ``stopped_early`` declare them among their own.
"""

from __future__ import annotations

from tutor.checks.kinds import LINE, TEXT, FactPath, Finding
from tutor.sandbox.results import RunResult, Termination

SOURCE_ERRORS = ("SyntaxError", "IndentationError", "TabError")
STOPPED = "Not reached: the run was stopped."

NOT_RUN_SYNTAX = FactPath("the code has a syntax error", {"line": LINE, "type": TEXT}, judged=False)
NOT_RUN_STOPPED = FactPath(
    "the program did not run to its end (time limit, crash, ...)", {"detail": TEXT}, judged=False
)
NOT_RUN = (NOT_RUN_SYNTAX, NOT_RUN_STOPPED)
STOPPED_EARLY = FactPath(
    "an error stopped the program before this point", {"line": LINE, "type": TEXT, "message": TEXT}, judged=False
)


def stop_reason(result: RunResult | None) -> str:
    """Why checks could not be judged, in words (one place for this sentence)."""
    if result is None:
        return "Not reached: an earlier case showed the code cannot run."
    error = result.error
    if result.termination in (Termination.FINISHED, Termination.EXITED):
        if error is not None and error.type in SOURCE_ERRORS:
            return f"Not reached: your code has a {error.type} on line {error.line}, so it never ran."
        if error is not None:
            return f"Not reached: your program stopped at line {error.line} ({error.type}) before this point."
        return "Not reached: your program ended before this point."
    # (the stop itself, e.g. "stopped after 60 s", is said once: by no_error and the verdict)
    return "Not reached: your program was stopped before this point." if result.detail else STOPPED


def not_run(result: RunResult) -> Finding | None:
    """Programs that could not be judged on this point (paths ``NOT_RUN``): not reached, with the reason."""
    if result.termination in (Termination.FINISHED, Termination.EXITED):
        error = result.error
        if error is not None and error.type in SOURCE_ERRORS:
            return Finding(
                False, stop_reason(result), {"line": error.line, "type": error.type}, judged=False, reached=False
            )
        return None
    return Finding(False, stop_reason(result), {"detail": result.detail}, judged=False, reached=False)


def stopped_early(result: RunResult) -> Finding | None:
    """Checks about the program's end (or a later step) when an error stopped it first (paths ``NOT_RUN``
    and ``STOPPED_EARLY``): not reached."""
    reason = not_run(result)
    if reason is not None or result.error is None:
        return reason
    facts = {"line": result.error.line, "type": result.error.type, "message": result.error.message}
    return Finding(False, stop_reason(result), facts, judged=False, reached=False)
