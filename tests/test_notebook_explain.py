"""Notebooks (tutor.explain.notebook, notebook_order, explain_notebook): cells, IPython syntax, the two
replay orders and their line maps, saved error outputs, and the notebook's own cause, in cell words. The
end-to-end cases run the replay in the real sandbox (plain Python, no TensorFlow: a second each)."""

from __future__ import annotations

import threading

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tutor.explain import explain_notebook as explain_notebook_module
from tutor.explain.contract import NotebookRun
from tutor.explain.explain import explain_file
from tutor.explain.notebook import (
    PREAMBLE,
    CodeCell,
    build_replay,
    fresh_order,
    prepare_cell,
    read_code_cells,
    session_order,
    top_level_bindings,
)
from tutor.explain.notebook_order import find_order_cause
from tutor.sandbox.results import RunResult, Termination

ANSI_RED = "\x1b[0;31m"


def code(source: str, count: int | None = None, outputs: list | None = None):
    cell = new_code_cell(source, execution_count=count)
    cell.outputs = outputs or []
    return cell


def notebook(*cells) -> dict:
    made = new_notebook()
    made.cells = list(cells)
    return made


def as_bytes(made: dict) -> bytes:
    return nbformat.writes(made).encode()


def name_error_output(name: str, count: int, line: int, frames: str = "") -> dict:
    """An error output as IPython 8 saves it (colours included)."""
    return new_output(
        "error",
        ename="NameError",
        evalue=f"name '{name}' is not defined",
        traceback=[
            f"{ANSI_RED}---------------------------------------------------------------------------\x1b[0m",
            f"{ANSI_RED}NameError\x1b[0m                                 Traceback (most recent call last)",
            f"Cell \x1b[0;32mIn[{count}], line {line}\x1b[0m\n\x1b[0;32m----> {line}\x1b[0m {name}.x()\n" + frames,
            f"{ANSI_RED}NameError\x1b[0m: name '{name}' is not defined",
        ],
    )


def cells_of(*specs: tuple[int, str, int | None]) -> list[CodeCell]:
    return [CodeCell(index, count, source, source) for index, source, count in specs]


# --- cells and IPython syntax ----------------------------------------------------------------------------


def test_code_cells_keep_their_index_among_all_cells() -> None:
    cells, notes = read_code_cells(
        notebook(new_markdown_cell("# title"), code("x = 1", 3), new_markdown_cell("words"), code("y = x", None))
    )
    assert [(c.index, c.execution_count, c.source) for c in cells] == [(1, 3, "x = 1"), (3, None, "y = x")]
    assert notes == []


def test_magic_and_shell_lines_become_pass_with_their_indentation() -> None:
    source = "%matplotlib inline\nimport os\nif True:\n    !pip install keras\n    files = !ls\nmodel?\nx = 1"
    runnable, why = prepare_cell(source)
    assert why is None
    assert runnable == "pass\nimport os\nif True:\n    pass\n    files = None\npass\nx = 1"
    assert len(runnable.split("\n")) == len(source.split("\n"))  # line numbers hold


def test_code_that_compiles_is_never_rewritten() -> None:
    source = 'text = """\n%d items\n!important\n"""\n'
    assert prepare_cell(source) == (source, None)


def test_cell_magics_and_cells_that_do_not_compile_are_skipped_with_a_note() -> None:
    cells, notes = read_code_cells(
        notebook(code("%%time\nx = 1", 1), new_markdown_cell("m"), code("def broken(:\n    pass", 2), code("y = 2", 3))
    )
    assert [c.runnable for c in cells] == [None, None, "y = 2"]
    assert notes == [
        "cell 1 is a %%cell magic; it was skipped",
        "cell 3 does not compile here; it was skipped",
    ]


def test_session_order_follows_the_counts_and_leaves_out_cells_never_run() -> None:
    cells = cells_of((0, "a = 1", 4), (1, "b = 2", None), (2, "c = 3", 2), (3, "d = 4", 9))
    assert [c.index for c in session_order(cells)] == [2, 0, 3]
    assert [c.index for c in fresh_order(cells)] == [0, 1, 2, 3]


def test_the_line_map_goes_back_to_cell_and_line() -> None:
    cells = cells_of((1, "a = 1\nb = 2\n", 1), (4, "\n", 2), (6, "c = a\n\nd = c", 3))
    replay, notes = build_replay(cells)
    assert notes == []
    preamble = PREAMBLE.count("\n")
    assert replay.source == PREAMBLE + "a = 1\nb = 2\nc = a\n\nd = c\n"
    assert replay.locate(1) is None  # the preamble is no cell's
    assert replay.locate(preamble + 2) == (1, 2)
    assert replay.locate(preamble + 5) == (6, 3)
    assert replay.locate(preamble + 6) is None and replay.locate(0) is None
    assert replay.find_line(6, 3) == preamble + 5 and replay.find_line(4, 1) is None
    assert replay.describe_line(preamble + 5) == "cell 7, line 3"


def test_a_cell_that_compiles_alone_but_not_after_others_is_skipped() -> None:
    cells = cells_of((0, "x = 1", 1), (1, "from __future__ import annotations\ny = 2", 2), (2, "z = 3", 3))
    replay, notes = build_replay(cells)
    assert replay.cells == [0, 2] and "y = 2" not in replay.source
    assert notes == ["cell 2 does not compile after the cells before it; it was skipped"]


def test_top_level_bindings_see_blocks_but_not_function_bodies() -> None:
    source = (
        "import numpy as np\nfrom keras import layers as L\nif True:\n    model = 1\nfor i in range(2):\n    pass\n"
        "def build():\n    inner = 2\nclass Net:\n    attr = 3\nwith open('f') as handle:\n    pass\n[q for q in []]"
    )
    assert top_level_bindings(source) == {
        "np": "import", "L": "import", "model": "assignment", "i": "assignment", "build": "def",
        "Net": "class", "handle": "assignment",
    }  # fmt: skip


# --- saved error outputs ---------------------------------------------------------------------------------


def test_a_saved_error_gives_the_name_and_the_line_in_its_cell() -> None:
    cells, _ = read_code_cells(
        notebook(code("x = 1", 3), code("y = 2\nlayers.x()", 4, [name_error_output("layers", 4, 2)]))
    )
    saved = cells[1].saved_error
    assert saved is not None
    assert (saved.cell, saved.raised_cell, saved.type, saved.name, saved.line) == (1, 1, "NameError", "layers", 2)
    assert "\x1b" not in saved.traceback


def test_a_saved_error_raised_inside_another_cells_function_points_there() -> None:
    inner = "Cell \x1b[0;32mIn[2], line 3\x1b[0m, in \x1b[0;36mbuild\x1b[0;34m()\x1b[0m\n"
    inner += "\x1b[0;32m----> 3\x1b[0m layers\n"
    output = name_error_output("layers", 5, 1, frames="")
    output["traceback"].insert(3, inner)
    cells, _ = read_code_cells(
        notebook(code("def build():\n    x = 1\n    return layers", 2), code("build()", 5, [output]))
    )
    saved = cells[1].saved_error
    assert saved is not None and (saved.cell, saved.raised_cell, saved.line, saved.function) == (1, 0, 3, "build")


def test_outputs_of_other_errors_are_not_name_errors() -> None:
    other = new_output("error", ename="ValueError", evalue="name 'x' is not defined", traceback=[])
    cells, _ = read_code_cells(notebook(code("x", 1, [other])))
    assert cells[0].saved_error is None


# --- notebook order --------------------------------------------------------------------------------------


def test_created_below_and_run_first_fails_on_restart_and_run_all() -> None:
    cells = cells_of((3, "base = model_base * 2", 12), (4, "model_base = 3", 8))
    finding = find_order_cause(cells, cells[0], "model_base", NotebookRun.FRESH)
    assert finding is not None and finding.binder == 4
    assert finding.diagnosis == (
        "Cell 4 uses `model_base`; cell 5, below it, creates it. Your session ran cell 5 first "
        "(In [8] before In [12]), so Restart & Run All fails at cell 4."
    )
    assert finding.fix == "Move the code that creates `model_base` above cell 4, then Restart & Run All."


def test_the_cell_that_imports_it_was_never_run() -> None:
    cells = cells_of((0, "import numpy as np", 1), (1, "from keras import layers", None), (3, "layers.Dense(3)", 2))
    finding = find_order_cause(cells, cells[2], "layers", NotebookRun.SESSION)
    assert finding is not None and finding.binder == 1
    assert finding.diagnosis == (
        "Cell 4 uses `layers`, but the cell that imports it (cell 2) has no execution count: it was never run in "
        "this session."
    )
    assert finding.fix == "Run the cells above, or Restart & Run All."


def test_a_restarted_kernel_counts_again_from_one() -> None:
    cells = cells_of((0, "import math", 5), (1, "x = math.pi", 6), (2, "y = x + 1", 1))
    finding = find_order_cause(cells, cells[2], "x", NotebookRun.SESSION)
    assert finding is not None and finding.binder == 1
    assert "ran later (In [6])" in finding.diagnosis and "restarted" in finding.diagnosis
    assert finding.fix == "Run cell 2 again, then cell 3; or Restart & Run All."


def test_a_cell_below_that_ran_later_in_the_session() -> None:
    cells = cells_of((0, "print(total)", 2), (1, "total = 10", 3))
    finding = find_order_cause(cells, cells[0], "total", NotebookRun.SESSION)
    assert finding is not None and "cell 2, below it, creates it, and it ran only after cell 1" in finding.diagnosis


def test_not_the_order_when_a_cell_that_binds_it_ran_before() -> None:
    cells = cells_of((0, "model = 1", 1), (1, "del model", 2), (2, "model.fit()", 3), (3, "model = 2", 4))
    assert find_order_cause(cells, cells[2], "model", NotebookRun.SESSION) is None
    assert find_order_cause(cells, cells[2], "model", NotebookRun.FRESH) is None  # cell 1 binds it above


def test_not_the_order_when_no_other_cell_binds_it_or_the_cell_binds_it_itself() -> None:
    cells = cells_of((0, "x = 1", 1), (1, "print(y)\ny = 2", 2), (2, "y = 3", None))
    assert find_order_cause(cells, cells[0], "nothing", NotebookRun.SESSION) is None
    assert find_order_cause(cells, cells[1], "y", NotebookRun.SESSION) is None


def test_a_function_from_another_cell_is_said_as_a_call() -> None:
    cells = cells_of((0, "def build():\n    return size", 1), (1, "build()", 2), (2, "size = 3", None))
    finding = find_order_cause(cells, cells[1], "size", NotebookRun.SESSION, function="build")
    assert finding is not None and finding.diagnosis.startswith("Cell 2 calls `build()`, which uses `size`; cell 3")


# --- end to end, in the sandbox --------------------------------------------------------------------------


def test_the_session_order_is_replayed_first_and_told_in_cells() -> None:
    made = notebook(
        new_markdown_cell("# Lab"), code("import math", 1), code("%matplotlib inline\nfrom string import digits", None),
        code("x = 1\nprint(digits)", 2),
    )  # fmt: skip
    explanation = explain_file("lab.ipynb", as_bytes(made))
    error = explanation.error
    assert explanation.found and explanation.basis == "sandbox" and error is not None
    assert (error.name, error.cell, error.line, error.run, error.cause) == ("digits", 3, 2, "session", "notebook-order")
    assert "the cell that imports it (cell 3) has no execution count" in error.diagnosis
    assert explanation.summary.startswith("Cell 4, line 2 raises NameError when the cells run in your session's order")
    assert [c["index"] for c in explanation.cells] == [1, 2, 3]


def test_restart_and_run_all_is_replayed_when_the_session_ran_fine() -> None:
    made = notebook(code("y = model_base * 2", 12), code("model_base = 3", 8))
    explanation = explain_file("lab.ipynb", as_bytes(made))
    error = explanation.error
    assert error is not None and (error.cell, error.line, error.run, error.cause) == (0, 1, "fresh", "notebook-order")
    assert "Your session ran cell 2 first (In [8] before In [12])" in error.diagnosis


def test_a_name_error_that_is_not_the_order_gets_the_analysis_in_cell_words() -> None:
    made = notebook(code("model = 1", 1), new_markdown_cell("text"), code("!nvidia-smi\nprint(1)\nlayers.Dense(3)", 2))
    explanation = explain_file("lab.ipynb", as_bytes(made))
    error = explanation.error
    assert error is not None and (error.cell, error.line, error.cause) == (2, 3, "not-imported")
    assert "cell 3, line 3" in error.diagnosis
    assert error.fixed_source == "from keras import layers\n!nvidia-smi\nprint(1)\nlayers.Dense(3)"  # the cell, fixed


def test_saved_outputs_explain_when_the_run_cannot_get_there() -> None:
    made = notebook(
        code("open('train.csv').read()", 3), code("x = 1\nlayers.x()", 4, [name_error_output("layers", 4, 2)])
    )
    explanation = explain_file("lab.ipynb", as_bytes(made))
    assert explanation.basis == "notebook-output" and explanation.error is not None
    assert (explanation.error.cell, explanation.error.line, explanation.error.name) == (1, 2, "layers")
    assert explanation.stopped == {
        "type": "FileNotFoundError", "message": "[Errno 2] No such file or directory: 'train.csv'", "line": 1,
        "cell": 0, "run": "session",
    }  # fmt: skip
    assert explanation.summary.startswith("It stopped here with FileNotFoundError in cell 1, line 1")


def test_without_a_run_the_saved_output_is_used() -> None:
    made = notebook(code("x = 1", 3), code("x = 1\nlayers.x()", 4, [name_error_output("layers", 4, 2)]))
    explanation = explain_file("lab.ipynb", as_bytes(made), run=False)
    assert explanation.basis == "notebook-output" and explanation.stopped is None
    assert explanation.error is not None and (explanation.error.cell, explanation.error.line) == (1, 2)


def test_a_notebook_that_runs_both_ways_has_no_name_error_and_notes_a_stale_output() -> None:
    made = notebook(code("x = 1", 1), code("print(x)", 2, [name_error_output("x", 2, 1)]))
    explanation = explain_file("lab.ipynb", as_bytes(made))
    assert not explanation.found and explanation.error is None
    assert explanation.summary == "No NameError here: your notebook ran to the end (in your session's order)."
    assert explanation.notes == [
        "cell 2 still shows a saved NameError for `x` from an earlier run; the notebook runs without it now"
    ]


def test_one_run_when_both_orders_are_the_same_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    sources: list[str] = []
    real = explain_notebook_module.run_source

    def counting(source, limits, cancel):
        sources.append(source)
        return real(source, limits, cancel)

    monkeypatch.setattr(explain_notebook_module, "run_source", counting)
    explain_file("lab.ipynb", as_bytes(notebook(code("x = 1", 1), code("y = x", 2))))
    assert len(sources) == 1
    explain_file("lab.ipynb", as_bytes(notebook(code("a = 1", 2), code("b = 2", 1))))
    assert len(sources) == 3  # another order: the session's, then top to bottom
    assert sources[1].endswith("b = 2\na = 1\n") and sources[2].endswith("a = 1\nb = 2\n")


def test_a_broken_sandbox_is_a_grader_error_not_the_notebooks(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(source, limits, cancel):
        return RunResult(Termination.SANDBOX_ERROR, 0.0, detail="The sandbox could not start: no bwrap")

    monkeypatch.setattr(explain_notebook_module, "run_source", broken)
    explanation = explain_file("lab.ipynb", as_bytes(notebook(code("print(model)", 1))))
    assert explanation.grader_error == "The sandbox could not start: no bwrap"
    assert not explanation.found and explanation.error is None and "not a problem with your code" in explanation.summary


def test_a_pasted_ipython_traceback_is_placed_by_its_in_number() -> None:
    made = notebook(code("import math", 1), code("x = 1\ny = math.pi\nprint(modle)", 7), code("model = 2", 3))
    traceback = "\n".join(name_error_output("modle", 7, 3)["traceback"])
    explanation = explain_file("lab.ipynb", as_bytes(made), traceback, run=False)
    error = explanation.error
    assert explanation.basis == "traceback" and error is not None
    assert (error.name, error.cell, error.line, error.run, error.cause) == ("modle", 1, 3, "session", "misspelled")
    assert explanation.summary.startswith("Your traceback shows NameError on cell 2, line 3")


def test_a_cancelled_explanation_says_so() -> None:
    cancel = threading.Event()
    cancel.set()
    explanation = explain_file("lab.ipynb", as_bytes(notebook(code("print(model)", 1))), cancel=cancel)
    assert not explanation.found and explanation.summary.startswith("The run was stopped before it finished")
