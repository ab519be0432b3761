"""A verdict in plain text, for the command line."""

from __future__ import annotations

from tutor.checks.judge import CheckStatus
from tutor.grading.verdict import Verdict

MARKS = {CheckStatus.PASSED: "x", CheckStatus.FAILED: " ", CheckStatus.NOT_REACHED: "-"}  # [-]: not reached


def format_verdict(verdict: Verdict) -> str:
    lines = [f"Lesson {verdict.lesson}: {'PASSED' if verdict.passed else 'not passed yet'}"]
    if verdict.empty:
        return lines[0] + "\n  The program is empty: nothing was run."
    if verdict.grader_error:
        lines.append(f"  The grader could not finish (not your code): {verdict.grader_error}")
    for case in verdict.cases:
        if len(verdict.cases) > 1:
            lines.append(f"  Case {case.case} ({case.title}): {'passed' if case.passed else 'failed'}")
        for check in case.checks:
            lines.append(f"    [{MARKS[check.status]}] {check.id}: {check.message}")
    error = verdict.first_error
    traceback = next((c.result.error.traceback for c in verdict.cases if c.result and c.result.error), "")
    if error is not None and traceback:  # (a NameError the program caught has no traceback of its own)
        lines.append("")
        lines.append("Traceback of your program:")
        lines += ["  " + line for line in traceback.rstrip().splitlines()]
    explained = next(
        (c.result.error for c in verdict.cases if c.result and c.result.error and c.result.error.analysis), None
    )
    analysis = explained.analysis if explained is not None else {}
    if explained is not None and not explained.is_name_error and analysis.get("diagnosis"):
        # a NameError's diagnosis is in its check's message already; an AttributeError's is not
        lines.append(f"\nWhat happened: {analysis['diagnosis']}")
    fix = analysis.get("fix")
    if fix and verdict.attempt:  # the command line is the teacher's and the author's: the fix is said
        lines.append(f"\nHow to fix it: {fix}")
    if verdict.dataset:
        lines.append(f"\nDataset: {verdict.dataset}")
    return "\n".join(lines)
