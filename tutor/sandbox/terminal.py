"""Render captured program output as a terminal would show it.

Keras' progress bar rewrites its line with carriage returns and ANSI colours, ~40 times a second, even
into a pipe. Shown raw, that is thousands of lines of noise; rendered, it is one line per epoch.
"""

from __future__ import annotations

import re

# CSI sequences (colours, cursor moves), OSC sequences (titles, links) and lone escapes.
ANSI_PATTERN = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
CONTROL_PATTERN = re.compile(r"[\x00-\x07\x0b\x0c\x0e-\x1f\x7f]")


def strip_ansi(text: str) -> str:
    return ANSI_PATTERN.sub("", text)


def render_terminal(raw: str, max_lines: int = 2000, max_line_chars: int = 2000) -> str:
    """Apply \\r and \\b as a terminal does, drop colours and other control bytes, cap the size."""
    text = strip_ansi(raw)
    lines: list[str] = []
    for physical in text.split("\n"):
        cells: list[str] = []
        column = 0
        for part in re.split(r"(\r|\x08)", physical):
            if part == "\r":
                column = 0
            elif part == "\x08":
                column = max(0, column - 1)
            elif part:
                part = CONTROL_PATTERN.sub("", part).replace("\t", "    ")
                for char in part:
                    if column < len(cells):
                        cells[column] = char
                    elif column < max_line_chars:
                        cells.append(char)
                    column += 1
        lines.append("".join(cells).rstrip())
    if len(lines) > max_lines:
        dropped = len(lines) - max_lines
        lines = [f"[{dropped} earlier lines not shown]", *lines[-max_lines:]]
    return "\n".join(lines)
