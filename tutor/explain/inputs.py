"""Reading a file someone uploaded or named: untrusted bytes in, a script's text or a validated notebook out,
or an InputError whose message says plainly what is wrong (never a stack trace)."""

from __future__ import annotations

import json
import warnings
from typing import Any

from tutor.explain.contract import MAX_CELLS, MAX_INPUT_BYTES, InputError, SourceKind

ACCEPTED = {".py": SourceKind.SCRIPT, ".ipynb": SourceKind.NOTEBOOK}
MAX_DETAIL_CHARS = 200  # a validator's message quotes the notebook's own values: keep it to one short line


def read_input(filename: str, data: bytes) -> tuple[SourceKind, str | dict[str, Any]]:
    """The kind of ``filename`` and its content: a script's text, or a notebook (nbformat 4, validated)
    as a dict. Raises InputError for anything that cannot be explained."""
    kind = kind_of(filename)
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(
            f"{display_name(filename)} is {len(data):,} bytes; files up to {MAX_INPUT_BYTES:,} bytes "
            f"({MAX_INPUT_BYTES // 1000} KB) can be explained"
        )
    text = decode_text(filename, data)
    if not text.strip():
        raise InputError(f"{display_name(filename)} is empty: there is no code to explain")
    if kind is SourceKind.SCRIPT:
        return kind, text
    return kind, parse_notebook(filename, text)


def kind_of(filename: str) -> SourceKind:
    """By the extension alone: the content is checked after."""
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in ACCEPTED:
        raise InputError(
            f"{display_name(filename)} is not a .py script or an .ipynb notebook; explain reads only those two"
        )
    return ACCEPTED[suffix]


def display_name(filename: str) -> str:
    """The name as people gave it, short and on one line (it is shown back to them)."""
    name = "".join(ch if ch.isprintable() else "?" for ch in filename.rsplit("/", 1)[-1])
    return repr(name[:80] + ("..." if len(name) > 80 else "")) if name else "the file"


def decode_text(filename: str, data: bytes) -> str:
    if b"\x00" in data:
        raise InputError(f"{display_name(filename)} is a binary file (it contains NUL bytes), not Python source")
    try:
        text = data.decode("utf-8-sig")  # a BOM is allowed, as Python allows it
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{display_name(filename)} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}); "
            "save it as UTF-8 and try again"
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_notebook(filename: str, text: str) -> dict[str, Any]:
    """Parse, convert to nbformat 4 and validate; then count the code cells."""
    import nbformat  # only a notebook needs it
    from nbformat import reader

    name = display_name(filename)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name} is not a notebook: it is not valid JSON ({exc.msg} at line {exc.lineno})")
    except RecursionError:
        raise InputError(f"{name} is not a notebook: its JSON is nested too deeply")
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        raise InputError(f"{name} is JSON but not a Jupyter notebook (it has no cells)")
    try:
        with warnings.catch_warnings():  # missing cell ids and the like are repaired quietly, not reported
            warnings.simplefilter("ignore")
            # reader.reads + convert is what nbformat.reads(text, as_version=4) does, minus its logging of an
            # invalid notebook to stderr: the error is reported here, in one line.
            notebook = nbformat.convert(reader.reads(text), 4)
            nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise InputError(f"{name} is not a valid notebook: {describe_validation_error(exc)}")
    except RecursionError:
        raise InputError(f"{name} is not a valid notebook: it is nested too deeply")
    except Exception as exc:  # nbformat's readers fail in many ways on odd JSON; each means "not a notebook"
        raise InputError(f"{name} is not a valid notebook: {one_line(str(exc)) or type(exc).__name__}")
    code_cells = sum(1 for cell in notebook.get("cells", []) if cell.get("cell_type") == "code")
    if code_cells > MAX_CELLS:
        raise InputError(f"{name} has {code_cells} code cells; notebooks with up to {MAX_CELLS} can be explained")
    if not any(cell.get("source", "").strip() for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"):
        raise InputError(f"{name} has no code: its code cells are empty, or it has none")
    return notebook


def describe_validation_error(exc: Exception) -> str:
    """jsonschema's message and where in the notebook, in one short line (its str() dumps the schema)."""
    message = one_line(str(getattr(exc, "message", "") or exc))
    path = "/".join(str(part) for part in getattr(exc, "absolute_path", []) or [])
    return message + (f" (at {path[:80]})" if path else "")


def one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:MAX_DETAIL_CHARS] + ("..." if len(first) > MAX_DETAIL_CHARS else "")
