"""An explanation for people in a terminal (``python -m tutor explain FILE`` without --json): what, where,
why, and the fix, with the fixed lines as a diff."""

from __future__ import annotations

import difflib

from tutor.explain.contract import Explanation, cell_label


def format_explanation(explanation: Explanation, script: str) -> str:
    """``script``: the file's text, which a script's fix changes (a notebook's fix changes the failing cell,
    which the explanation carries)."""
    lines = [f"{explanation.file}: {explanation.summary}"]
    error = explanation.error
    if error is not None:
        where = f"line {error.line}" if error.line else "a line Python could not place"
        if error.cell is not None:
            where = cell_label(error.cell) + (f", line {error.line}" if error.line else "")
        inside = f" inside {error.function}()" if error.function else ""
        run = {"session": " (in your session's order)", "fresh": " (Restart & Run All)"}.get(error.run or "", "")
        lines += [
            "",
            f"  {error.type}: `{error.name}` on {where}{inside}{run}",
            f"  cause:           {error.cause or 'unknown'}",
            f"  what went wrong: {error.diagnosis or error.message}",
        ]
        if error.fix:
            lines.append(f"  fix:             {error.fix}")
        if error.suggestions:
            lines.append(f"  suggestions:     {', '.join(error.suggestions[:5])}")
    if explanation.stopped:
        stop = explanation.stopped
        lines.append(f"  stopped here:    {stop.get('type')}: {stop.get('message')}")
    for note in explanation.notes:
        lines.append(f"  note: {note}")
    if explanation.grader_error:
        lines.append(f"  grader error:    {explanation.grader_error}")
    if error is not None and error.fixed_source is not None:
        before = script
        if error.cell is not None:
            before = next((str(c["source"]) for c in explanation.cells if c.get("index") == error.cell), "")
        diff = difflib.unified_diff(
            before.splitlines(), error.fixed_source.splitlines(), "before", "after", lineterm="", n=1
        )
        lines += ["", "  the fix:"] + [f"    {line}" for line in diff]
    return "\n".join(lines)
