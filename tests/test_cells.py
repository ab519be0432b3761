"""Notebook lessons as text (tutor.lessons.cells): the percent format parses and joins back byte for byte,
lines map between the file and its cells, IPython's syntax runs as a script with the same line numbers,
and .ipynb files convert both ways, hostile ones refused with a reason."""

from __future__ import annotations

import json

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tutor.lessons.cells import (
    MAX_IPYNB_BYTES,
    Cell,
    CellKind,
    NotebookError,
    cell_line_to_file_line,
    code_cells,
    format_problems,
    from_ipynb,
    join_cells,
    locate_line,
    parse_cells,
    read_ipynb,
    runnable_script,
    to_ipynb,
    write_ipynb,
)

NOTEBOOK = """\
import os

# %% Load the data
x = 1


# %% [markdown] Notes
# Some *text*.
#
# More.

# %%
%matplotlib inline
files = !ls
model?
print(x % 2)
"""


def test_cells_of_a_notebook() -> None:
    cells = parse_cells(NOTEBOOK)
    assert [(c.kind, c.number, c.title, c.first_line, c.gap) for c in cells] == [
        (CellKind.CODE, 1, "", 1, 1),  # text before the first marker is a cell too, without a marker
        (CellKind.CODE, 2, "Load the data", 4, 2),
        (CellKind.MARKDOWN, None, "Notes", 8, 1),
        (CellKind.CODE, 3, "", 13, 0),
    ]
    assert not cells[0].marker and all(c.marker for c in cells[1:])
    assert cells[1].source == "x = 1"
    assert cells[3].source.endswith("print(x % 2)")  # no trailing newline
    assert join_cells(cells) == NOTEBOOK


def test_blank_text_before_the_first_marker_is_no_cell() -> None:
    assert [c.number for c in parse_cells("\n\n# %%\nx = 1\n")] == [1]
    assert parse_cells("") == []
    assert join_cells([]) == ""


def test_a_marker_needs_a_space_after_it() -> None:
    cells = parse_cells("# %%\n# %%timeit is a comment\nx = 1\n# %%\ty\n")
    assert [c.title for c in cells] == ["", "y"]
    assert cells[0].source == "# %%timeit is a comment\nx = 1"


LINES = st.sampled_from(
    [
        "# %%",
        "# %% Train",
        "# %% [markdown]",
        "# %% [markdown] Intro",
        "",
        "",
        "x = 1",
        "    y = x",
        "# a comment",
        "#",
        "   ",
        "%time x = 1",
        "model?",
    ]
)


@given(st.lists(LINES, max_size=30))
def test_join_undoes_parse_for_every_well_formed_text(lines: list[str]) -> None:
    while lines and lines[0] == "":
        lines.pop(0)  # empty lines before the first marker are not a cell (Jupytext), so not kept
    text = "\n".join(lines) + "\n" if lines else ""
    cells = parse_cells(text)
    assert join_cells(cells) == text
    file_lines = text.split("\n")
    for cell in cells:  # each cell's source is where first_line says
        assert file_lines[cell.first_line - 1 : cell.first_line - 1 + len(cell.lines)] == cell.lines
    assert [c.number for c in code_cells(cells)] == list(range(1, len(code_cells(cells)) + 1))


@given(st.lists(LINES, max_size=30))
def test_locate_line_and_its_inverse_agree(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    cells = parse_cells(text)
    for line in range(1, len(lines) + 2):
        where = locate_line(cells, line)
        if where is not None:
            assert cell_line_to_file_line(cells, *where) == line
    for cell in code_cells(cells):
        for offset in range(len(cell.lines)):
            assert locate_line(cells, cell.first_line + offset) == (cell.number, offset + 1)


def test_locate_line_outside_code_cells_is_none() -> None:
    cells = parse_cells(NOTEBOOK)
    assert locate_line(cells, 3) is None  # the marker line
    assert locate_line(cells, 5) is None  # the separator after a cell
    assert locate_line(cells, 9) is None  # a markdown cell
    assert locate_line(cells, 99) is None
    assert locate_line(cells, 14) == (3, 2)
    assert cell_line_to_file_line(cells, 3, 2) == 14
    assert cell_line_to_file_line(cells, 3, 9) is None
    assert cell_line_to_file_line(cells, 4, 1) is None


def test_runnable_script_keeps_every_line_and_compiles() -> None:
    script = runnable_script(NOTEBOOK)
    assert script.count("\n") == NOTEBOOK.count("\n")
    compile(script, "main.py", "exec")
    lines = script.split("\n")
    assert lines[12] == "pass  # %matplotlib inline"
    assert lines[13] == "files = None  # files = !ls"  # the name is still bound
    assert lines[14] == "pass  # model?"
    assert lines[15] == "print(x % 2)"  # Python's % is left alone


def test_runnable_script_comments_out_a_cell_magic_cell_and_keeps_indentation() -> None:
    text = "# %%\n%%timeit\nx = 1\n\n# %%\nif True:\n    !pip list\n    ?len\n# %%\ns = '%d' % 3\n"
    script = runnable_script(text)
    assert script.split("\n")[1:3] == ["#: %%timeit", "#: x = 1"]
    assert script.split("\n")[5:8] == ["if True:", "    pass  # !pip list", "    pass  # ?len"]
    assert script.count("\n") == text.count("\n")
    assert [c.number for c in parse_cells(script)] == [1, 2, 3]  # "#: %%" is no marker
    compile(script, "main.py", "exec")
    assert runnable_script("x = 1\n# %%  \ny = '%s'\n") == "x = 1\n# %%  \ny = '%s'\n"  # nothing to do: as is


def test_format_problems() -> None:
    assert format_problems(parse_cells("# %%\nx = 1\n")) == []
    assert "no code cell" in format_problems(parse_cells("# %% [markdown]\n# only text\n"))[0]
    problems = format_problems(parse_cells("# %% [markdown]\n# text\nx = 1\n# %%\ny = 2\n"))
    assert problems == [
        "line 3 is in a markdown cell but is not a comment: write it as '# text' (run as a script, it would run "
        "as code)"
    ]


def test_ipynb_round_trip() -> None:
    cells = parse_cells(NOTEBOOK.replace("import os\n\n", "# %%\nimport os\n\n"))
    data = to_ipynb(cells)
    nbformat.validate(nbformat.from_dict(data))
    assert data["nbformat"] == 4
    assert [c["cell_type"] for c in data["cells"]] == ["code", "code", "markdown", "code"]
    assert "".join(data["cells"][2]["source"]) == "Some *text*.\n\nMore."  # as Jupyter writes it: lines
    assert data["cells"][1]["metadata"] == {"title": "Load the data"}
    assert all(c.get("outputs", []) == [] for c in data["cells"])
    assert to_ipynb(cells) == data  # no random cell ids: one lesson, one export
    back = from_ipynb(json.loads(write_ipynb(cells)))
    assert [(c.kind, c.source, c.title, c.number) for c in back] == [
        (c.kind, c.source, c.title, c.number) for c in cells
    ]
    assert join_cells(from_ipynb(to_ipynb(back))) == join_cells(back)


def test_from_ipynb_reads_what_jupyter_writes() -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Title\n\ntext"),
            nbformat.v4.new_code_cell("x = 1\n\n", execution_count=3),
            nbformat.v4.new_raw_cell("raw text"),
            nbformat.v4.new_code_cell(["y = 2\r\n", "print(y)"]),
        ]
    )
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    cells = from_ipynb(json.loads(nbformat.writes(notebook)))
    assert [(c.kind, c.number) for c in cells] == [
        (CellKind.MARKDOWN, None),
        (CellKind.CODE, 1),
        (CellKind.MARKDOWN, None),  # raw: kept, as comments
        (CellKind.CODE, 2),
    ]
    assert cells[0].source == "# # Title\n#\n# text"
    assert cells[1].source == "x = 1"
    assert cells[2].source == "# raw text"
    assert cells[3].source == "y = 2\nprint(y)"
    text = join_cells(cells)
    assert parse_cells(text) == cells
    assert format_problems(cells) == []


def test_from_ipynb_converts_an_old_notebook() -> None:
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "language": "python", "outputs": []}]}],
    }
    assert [c.source for c in from_ipynb(v3)] == ["x = 1"]


HOSTILE = [
    (b"[1, 2]", "one JSON object"),
    (b"{", "is not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"cells": []}', "no nbformat version"),
    (b'{"nbformat": "4", "cells": []}', "no nbformat version"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "code"}]}).encode(), "v4"),
    (
        json.dumps({"nbformat": 9, "nbformat_minor": 0, "metadata": {}, "cells": []}).encode(),
        "version 9; this app reads version 4",
    ),
    (b" " * (MAX_IPYNB_BYTES + 1), "at most 1,000,000"),
]


@pytest.mark.parametrize(("raw", "words"), HOSTILE, ids=[f"hostile-{i}" for i in range(len(HOSTILE))])
def test_hostile_ipynb_files_are_refused_with_a_reason(raw: bytes, words: str) -> None:
    with pytest.raises(NotebookError, match=words) as caught:
        read_ipynb(raw)
    assert "Traceback" not in str(caught.value) and len(str(caught.value)) < 500


def test_a_code_line_that_reads_as_a_marker_is_refused() -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\n# %% sneaky\ny = 2")])
    with pytest.raises(NotebookError, match="cell 1 has the line '# %% sneaky'"):
        read_ipynb(nbformat.writes(notebook).encode())


def test_a_markdown_title_tag_in_metadata_cannot_turn_a_code_cell() -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"title": "[markdown]"})])
    cells = from_ipynb(json.loads(nbformat.writes(notebook)))
    assert parse_cells(join_cells(cells))[0].kind is CellKind.CODE


def test_cells_built_in_code_join_with_markers() -> None:
    cells = [Cell(CellKind.CODE, "a = 1", marker=False), Cell(CellKind.MARKDOWN, "# hi", gap=0)]
    assert join_cells(cells) == "a = 1\n\n# %% [markdown]\n# hi\n"


def test_only_a_first_code_cell_goes_without_a_marker() -> None:
    cells = [Cell(CellKind.MARKDOWN, "# hi", marker=False, gap=0)]
    assert join_cells(cells) == "# %% [markdown]\n# hi\n"
    assert parse_cells(join_cells(cells))[0].kind is CellKind.MARKDOWN
