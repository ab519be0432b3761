"""Explain's untrusted input: files anyone uploads (tutor.explain.inputs) and tracebacks anyone pastes
(tutor.explain.traceback_text). Each refusal is one plain sentence, never a crash; each odd traceback
gives what it can, with a note for what it could not."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tutor.explain.contract import MAX_CELLS, MAX_INPUT_BYTES, MAX_TRACEBACK_CHARS, InputError, SourceKind
from tutor.explain.explain import explain_file
from tutor.explain.inputs import read_input
from tutor.explain.traceback_text import NOT_A_TRACEBACK, parse_traceback, strip_ansi


def notebook_bytes(*cells) -> bytes:
    notebook = new_notebook()
    notebook.cells = list(cells)
    return nbformat.writes(notebook).encode()


def refusal(filename: str, data: bytes) -> str:
    with pytest.raises(InputError) as caught:
        read_input(filename, data)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message  # one plain line
    return message


def test_a_script_and_a_notebook_are_read() -> None:
    assert read_input("train.py", b"\xef\xbb\xbfmodel = 1\r\n") == (SourceKind.SCRIPT, "model = 1\n")
    kind, notebook = read_input("Lab 1.IPYNB", notebook_bytes(new_markdown_cell("# hi"), new_code_cell("x = 1")))
    assert kind is SourceKind.NOTEBOOK
    assert [cell["cell_type"] for cell in notebook["cells"]] == ["markdown", "code"]


@pytest.mark.parametrize("filename", ["notes.txt", "model.h5", "README", "script.py.bak", ""])
def test_other_extensions_are_refused_saying_which_are_accepted(filename: str) -> None:
    message = refusal(filename, b"x = 1\n")
    assert ".py" in message and ".ipynb" in message


def test_binary_content_is_refused() -> None:
    assert "binary" in refusal("weights.py", b"\x89HDF\r\n\x1a\n\x00\x00\x00")


def test_text_that_is_not_utf8_is_refused() -> None:
    message = refusal("latin1.py", "print('café')\n".encode("latin-1"))
    assert "not UTF-8" in message and "0xe9" in message


def test_a_file_over_the_limit_is_refused_with_its_size_and_the_limit() -> None:
    data = b"x = 1\n" * (MAX_INPUT_BYTES // 6 + 10)
    message = refusal("big.py", data)
    assert f"{len(data):,} bytes" in message and f"{MAX_INPUT_BYTES:,}" in message


@pytest.mark.parametrize("data", [b"", b"   \n\n\t\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert "empty" in refusal("empty.py", data)


def test_a_notebook_that_is_not_json_is_refused() -> None:
    message = refusal("broken.ipynb", b'{"cells": [ {"cell_type": "code",, }')
    assert "not valid JSON" in message and "line 1" in message


def test_json_that_is_not_a_notebook_is_refused() -> None:
    assert "not a Jupyter notebook" in refusal("list.ipynb", b"[1, 2, 3]")
    assert "not a Jupyter notebook" in refusal("dict.ipynb", b'{"hello": "world"}')


def test_json_nested_too_deeply_is_refused_not_crashed_on() -> None:
    message = refusal("deep.ipynb", b"[" * 100_000 + b"]" * 100_000)
    assert "not a notebook" in message or "not a Jupyter notebook" in message


def test_an_invalid_notebook_says_what_is_wrong_in_one_line() -> None:
    raw = json.loads(notebook_bytes(new_code_cell("x = 1")))
    raw["cells"][0]["execution_count"] = "three"
    message = refusal("invalid.ipynb", json.dumps(raw).encode())
    assert "not a valid notebook" in message
    assert "'three' is not of type" in message and "cells/0/execution_count" in message
    assert len(message) < 400  # not the schema dump


def test_a_notebook_without_cells_key_is_refused() -> None:
    message = refusal("nocells.ipynb", b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 3}')
    assert "not a valid notebook" in message


def test_too_many_code_cells_are_refused() -> None:
    cells = [new_code_cell(f"x{i} = {i}") for i in range(500)]
    message = refusal("long.ipynb", notebook_bytes(*cells))
    assert "500 code cells" in message and str(MAX_CELLS) in message


def test_a_notebook_with_only_empty_code_is_refused() -> None:
    message = refusal("blank.ipynb", notebook_bytes(new_markdown_cell("# only words"), new_code_cell("  \n")))
    assert "no code" in message


def test_explain_file_refuses_the_same_way_and_never_shows_a_folder() -> None:
    with pytest.raises(InputError, match="binary"):
        explain_file("x.py", b"\x00\x01", run=False)
    explanation = explain_file("/home/someone/secret/../train.py", b"print(model)\n", run=False)
    assert explanation.file == "train.py"
    explanation = explain_file("C:\\Users\\someone\\train.py", b"print(model)\n", run=False)
    assert explanation.file == "train.py"


# --- pasted tracebacks -----------------------------------------------------------------------------------

PYTHON_TRACEBACK = """Traceback (most recent call last):
  File "/home/me/train.py", line 12, in <module>
    main()
  File "/home/me/train.py", line 9, in main
    model.fit(x, y)
    ^^^^^
NameError: name 'model' is not defined. Did you mean: 'models'?
"""

IPYTHON_8 = (
    "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m\n"
    "\x1b[0;31mNameError\x1b[0m                                 Traceback (most recent call last)\n"
    "Cell \x1b[0;32mIn[3], line 5\x1b[0m\n"
    "\x1b[1;32m      3\x1b[0m x \x1b[38;5;241m=\x1b[39m \x1b[38;5;241m1\x1b[39m\n"
    "\x1b[0;32m----> 5\x1b[0m model\x1b[38;5;241m.\x1b[39mfit(x)\n"
    "\x1b[0;31mNameError\x1b[0m: name 'model' is not defined\n"
)

IPYTHON_7 = """---------------------------------------------------------------------------
NameError                                 Traceback (most recent call last)
<ipython-input-7-3f2a1c9d8e7b> in <module>()
      2 model.compile(optimizer='adam')
----> 3 history = modle.fit(x_train, y_train)

<ipython-input-4-99aa00bb11cc> in build()
      1 def build():
----> 2     return layers.Dense(3)

NameError: name 'layers' is not defined
"""


def test_a_python_traceback_gives_the_innermost_frame() -> None:
    error, notes = parse_traceback(PYTHON_TRACEBACK)
    assert error is not None and notes == []
    assert (error.type, error.name, error.line, error.function, error.file) == (
        "NameError", "model", 9, "main", "/home/me/train.py"
    )  # fmt: skip
    assert error.execution_count is None


def test_an_ipython_8_traceback_with_colours() -> None:
    error, _ = parse_traceback(IPYTHON_8)
    assert error is not None
    assert (error.name, error.line, error.execution_count, error.function) == ("model", 5, 3, None)
    assert "\x1b" not in error.text


def test_an_ipython_7_traceback_takes_the_arrow_of_the_innermost_frame() -> None:
    error, _ = parse_traceback(IPYTHON_7)
    assert error is not None
    assert (error.name, error.line, error.execution_count, error.function) == ("layers", 2, 4, "build")
    assert [frame.execution_count for frame in error.frames] == [7, 4]


def test_colab_cell_line_frames_are_module_level() -> None:
    text = IPYTHON_7.replace("in <module>()", "in <cell line: 3>()")
    error, _ = parse_traceback(text)
    assert error is not None and error.frames[0].at_module and error.frames[0].lineno == 3


@pytest.mark.parametrize(
    "last_line, kind",
    [
        ("UnboundLocalError: cannot access local variable 'model' where it is not associated with a value",
         "UnboundLocalError"),
        ("UnboundLocalError: local variable 'model' referenced before assignment", "UnboundLocalError"),
        ("NameError: free variable 'model' referenced before assignment in enclosing scope", "NameError"),
        ("NameError: cannot access free variable 'model' where it is not associated with a value in enclosing "
         "scope", "NameError"),
        ("builtins.NameError: global name 'model' is not defined", "NameError"),
    ],
)  # fmt: skip
def test_every_wording_of_the_missing_name(last_line: str, kind: str) -> None:
    error, _ = parse_traceback(f'Traceback (most recent call last):\n  File "a.py", line 4, in f\n    x\n{last_line}\n')
    assert error is not None and (error.type, error.name, error.line, error.function) == (kind, "model", 4, "f")


def test_text_that_is_not_a_traceback_is_noted() -> None:
    for text in ("my model doesn't work, help!!", "print(model)\n", "\x1b[31m\x1b[0m"):
        assert parse_traceback(text) == (None, [NOT_A_TRACEBACK])


def test_a_name_that_is_not_an_identifier_is_ignored_with_a_note() -> None:
    error, notes = parse_traceback("Traceback (most recent call last):\nNameError: name 'rm -rf /' is not defined\n")
    assert error is None and "not a Python name" in notes[0]
    error, notes = parse_traceback("NameError: name 'class' is not defined\n")  # a keyword is no name either
    assert error is None and "not a Python name" in notes[0]


def test_another_error_is_noted() -> None:
    error, notes = parse_traceback('Traceback (most recent call last):\n  File "a.py", line 1\nValueError: bad\n')
    assert error is None and notes == [
        "the pasted traceback ends with ValueError, not a NameError; explained from the source"
    ]


def test_the_last_name_error_wins_and_line_numbers_must_be_positive() -> None:
    second = 'Traceback (most recent call last):\n  File "b.py", line 0, in <module>\n'
    text = PYTHON_TRACEBACK + second + "NameError: name 'K' is not defined\n"
    error, _ = parse_traceback(text)
    assert error is not None and (error.name, error.line, error.file) == ("K", None, "b.py")
    error, _ = parse_traceback(PYTHON_TRACEBACK.replace("line 9", "line 99999999999999999999"))
    assert error is not None and error.line is None  # not a number anyone's file has: no line


def test_a_huge_paste_is_cut_to_its_end_and_still_read() -> None:
    text = "noise line\n" * (MAX_TRACEBACK_CHARS // 5) + PYTHON_TRACEBACK
    error, notes = parse_traceback(text)
    assert error is not None and error.name == "model"
    assert len(error.text) <= MAX_TRACEBACK_CHARS and "only its last" in notes[0]


def test_ansi_codes_of_every_kind_are_stripped() -> None:
    text = "\x1b[1;31mNameError\x1b[0m\x1b]0;title\x07: name '\x1b[32mmodel\x1b[39m' is not defined\x1b(B"
    assert strip_ansi(text).startswith("NameError: name 'model' is not defined")


def test_a_pasted_text_that_is_no_traceback_is_explained_from_the_source() -> None:
    explanation = explain_file("t.py", b"x = 1\nprint(modle)\n", "it crashed :(", run=False)
    assert explanation.basis == "source" and explanation.error is not None and explanation.error.name == "modle"
    assert NOT_A_TRACEBACK in explanation.notes


def test_a_pasted_line_not_in_the_file_is_not_trusted() -> None:
    traceback = 'Traceback (most recent call last):\n  File "t.py", line 40, in <module>\n'
    traceback += "NameError: name 'model' is not defined\n"
    explanation = explain_file("t.py", b"import os\nmodel.fit()\n", traceback, run=False)
    assert explanation.basis == "traceback" and explanation.error is not None
    assert explanation.error.line == 2  # the line that uses it, not line 40
    assert any("line 40 is not in this file" in note for note in explanation.notes)
