"""Reading a pasted traceback (untrusted text): the last NameError or UnboundLocalError in it, the missing
name and the line, from a plain Python traceback or an IPython / Jupyter / Colab one (ANSI colours and all).

Only what the patterns below recognise is taken; anything else is ignored with a note, never guessed."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

from tutor.explain.contract import MAX_TRACEBACK_CHARS

NOT_A_TRACEBACK = "the pasted text is not a Python traceback; explained from the source"
MAX_LINE = 10_000_000  # a line number past this is not a line of a file anyone pastes
MAX_MESSAGE_CHARS = 500

# Colours and cursor moves (CSI), window titles (OSC), and the lone two-character escapes.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
HEADER = re.compile(r"Traceback \(most recent call last\)")
NAME_ERROR_LINE = re.compile(
    r"^[ \t]*(?:[A-Za-z_][\w.]*\.)?(?P<type>NameError|UnboundLocalError)[ \t]*:[ \t]*(?P<message>[^\n]*)$", re.M
)
# Any other exception's last line (an IPython header, "NameError   Traceback (...)", is not one: no colon).
ANY_ERROR_LINE = re.compile(r"^[ \t]*(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))[ \t]*(?::|$)", re.M)
# The missing name, in every wording Python has used (3.6 to 3.13): NameError, UnboundLocalError, free variables.
NAME_PATTERNS = [
    re.compile(r"name '(?P<name>[^'\n]{1,200})' is not defined"),
    re.compile(r"cannot access (?:local|free) variable '(?P<name>[^'\n]{1,200})'"),
    re.compile(r"(?:local|free) variable '(?P<name>[^'\n]{1,200})' referenced before assignment"),
]
# Frames: Python's own; IPython 8+ (``Cell In[3], line 5, in build()``, ``Input In [3], in <cell line: 5>()``,
# ``File ~/x.py:12, in f()``); IPython 7 and Colab (``<ipython-input-3-ab12> in <module>()``, then arrows).
PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"\n]{0,500})", line (?P<line>\d{1,100})(?:, in (?P<function>.+))?$')
IPY_CELL = re.compile(
    r"^\s*(?:Cell|Input) In ?\[(?P<count>\d{1,100})\](?:, line (?P<line>\d{1,100}))?(?:, in (?P<function>.+))?\s*$"
)
IPY_FILE = re.compile(r"^\s*File (?P<file>[^\s\"][^\n]{0,500}?):(?P<line>\d{1,100})(?:, in (?P<function>.+))?\s*$")
IPY_OLD = re.compile(r"^(?P<file><ipython-input-\d{1,100}-\w+>|\S{1,500}\.py) in (?P<function>.+)$")
ARROW = re.compile(r"^\s*-*>\s*(?P<line>\d{1,100})\b")
IPYTHON_INPUT = re.compile(r"<ipython-input-(?P<count>\d{1,100})-")


@dataclass
class PastedError:
    """The NameError a pasted traceback ends with (the last one in it)."""

    type: str  # NameError or UnboundLocalError
    name: str
    message: str
    line: int | None  # in the innermost frame's file (for a notebook: in the cell)
    function: str | None  # None at module (cell) level
    execution_count: int | None  # IPython's In [n] of the innermost frame, when it shows one
    file: str | None  # the innermost frame's file as written in the traceback (untrusted text)
    text: str = ""  # the traceback, colours stripped and capped
    frames: list[Frame] = field(default_factory=list)  # outermost first


@dataclass
class Frame:
    """One frame of a traceback, as far as its text shows it."""

    file: str | None
    line: int | None
    function: str | None
    execution_count: int | None
    arrow: int | None = None  # the line an IPython arrow points at, for frames whose header has none
    at_module: bool = True  # the script's (or the cell's) top level, not inside a function

    @property
    def lineno(self) -> int | None:
        return self.line if self.line is not None else self.arrow


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def clean_traceback_text(text: str) -> tuple[str, list[str]]:
    """Colours stripped, line ends made plain, cut to its last MAX_TRACEBACK_CHARS (the error is at the end)."""
    notes = []
    if len(text) > MAX_TRACEBACK_CHARS * 4:  # before the regexes run over it at all
        text = text[-MAX_TRACEBACK_CHARS * 4 :]
    text = strip_ansi(text).replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_TRACEBACK_CHARS:
        text = text[-MAX_TRACEBACK_CHARS:]
        text = text.split("\n", 1)[-1]  # not half a line
        notes.append(f"the pasted traceback is long; only its last {MAX_TRACEBACK_CHARS // 1000} KB were read")
    return text, notes


def parse_traceback(text: str) -> tuple[PastedError | None, list[str]]:
    """The last NameError/UnboundLocalError in ``text`` with its name and line, and notes on what was ignored.
    None when there is none (the notes say why: not a traceback, another error, a name that is no name)."""
    text, notes = clean_traceback_text(text)
    matches = list(NAME_ERROR_LINE.finditer(text))
    if not matches:
        other = list(ANY_ERROR_LINE.finditer(text))
        if other and (HEADER.search(text) or read_frames(text)):
            notes.append(f"the pasted traceback ends with {other[-1]['type'][:80]}, not a NameError; explained from "
                         "the source")  # fmt: skip
        else:
            notes.append(NOT_A_TRACEBACK)
        return None, notes
    last = matches[-1]
    message = last["message"].strip()[:MAX_MESSAGE_CHARS]
    name = missing_name(message)
    if name is None:
        notes.append(f"the pasted {last['type']} does not say which name is missing; explained from the source")
        return None, notes
    if not is_identifier(name):
        notes.append(f"the pasted traceback names {name[:40]!r} as the missing name, which is not a Python name; "
                     "it was ignored")  # fmt: skip
        return None, notes
    headers = [m.end() for m in HEADER.finditer(text, 0, last.start())]
    block = text[headers[-1] if headers else 0 : last.start()]
    frames = read_frames(block)
    innermost = frames[-1] if frames else None
    error = PastedError(type=last["type"], name=name, message=message, line=None, function=None,
                        execution_count=None, file=None, text=text, frames=frames)  # fmt: skip
    if innermost is not None:
        error.line = innermost.lineno
        error.function = innermost.function
        error.execution_count = innermost.execution_count
        error.file = innermost.file
    return error, notes


def missing_name(message: str) -> str | None:
    for pattern in NAME_PATTERNS:
        match = pattern.search(message)
        if match:
            return match["name"]
    return None


def cell_frame_lines(traceback: str, count: int | None = None) -> list[int]:
    """The lines of IPython's frames in a notebook cell ("Cell In[3], line 2"), outermost first; with
    ``count``, only those of In [count]."""
    lines = []
    for text in traceback.splitlines():
        match = IPY_CELL.match(text)
        if match and match["line"] and (count is None or int(match["count"]) == count):
            lines.append(int(match["line"]))
    return lines


def is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def read_frames(block: str) -> list[Frame]:
    """The frames in a traceback's text, outermost first; an IPython arrow (``----> 5``) gives its frame's line."""
    frames: list[Frame] = []
    for text in block.split("\n"):
        if match := PY_FRAME.match(text):
            frames.append(_frame(match["file"], match["line"], match["function"], _input_count(match["file"])))
        elif match := IPY_CELL.match(text):
            count = _line(match["count"])
            frames.append(_frame(f"In [{count}]", match["line"], match["function"], count))
        elif match := IPY_FILE.match(text):
            file = match["file"].strip()
            frames.append(_frame(file, match["line"], match["function"], _input_count(file)))
        elif match := IPY_OLD.match(text):
            frames.append(_frame(match["file"], None, match["function"], _input_count(match["file"])))
        elif (match := ARROW.match(text)) and frames and frames[-1].arrow is None:
            frames[-1].arrow = _line(match["line"])
    return frames


def _frame(file: str, line: str | None, function: str | None, count: int | None) -> Frame:
    at_module = function is None or function.strip().startswith(("<module", "<cell line"))
    return Frame(file, _line(line), _function(function), count, at_module=at_module)


def _line(digits: str | None) -> int | None:
    """A positive line number, or None."""
    if not digits:
        return None
    value = int(digits)
    return value if 0 < value <= MAX_LINE else None


def _function(text: str | None) -> str | None:
    """``build_model()`` -> build_model; module level (``<module>``, ``<cell line: 5>()``) -> None."""
    if not text or text.strip().startswith("<"):
        return None
    head = text.strip().split("(", 1)[0].strip().rsplit(".", 1)[-1]
    return head if is_identifier(head) else None


def _input_count(file: str | None) -> int | None:
    match = IPYTHON_INPUT.search(file or "")
    return _line(match["count"]) if match else None
