"""A NameError in a live notebook, in cell words (issue 20): each kind of hidden state named with the cell
that explains it, and Restart & Run All's failure explained with the session's In [n]."""

from __future__ import annotations

from tutor.explain.cell_session import CellState, binding_line, explain_cell_error, explain_fresh_failure

IMPORTS = "import keras\n"
FIT = "model.fit(x, y)"
MAKE = "model = keras.Sequential()"


def cell(number: int, source: str, ran: str | None = "same", count: int | None = None, status: str | None = "ok",
         **error) -> CellState:  # fmt: skip
    ran_source = source if ran == "same" else ran
    return CellState(number, source, ran_source, count if ran_source is not None else None,
                     status if ran_source is not None else None, **error)  # fmt: skip


def test_cell_that_creates_it_not_run_since_restart():
    cells = [cell(1, IMPORTS, None), cell(2, MAKE, None), cell(3, FIT, count=1, status="error")]
    words = explain_cell_error(cells, 3, "model", 1)
    assert words.startswith("Cell 3 uses `model`; the cell that creates it, cell 2, has not run since the kernel")
    assert "Restart & run all" in words


def test_cell_below_creates_it():
    cells = [cell(1, IMPORTS, count=1), cell(2, FIT, count=2, status="error"), cell(3, MAKE, None)]
    words = explain_cell_error(cells, 2, "model", 1)
    assert "cell 3, below it, creates it and has not run yet" in words
    assert "move the code that creates `model` above cell 2" in words


def test_cell_edited_after_it_ran():
    cells = [cell(1, IMPORTS, count=1), cell(2, MAKE, "m = 1", count=2), cell(3, FIT, count=3, status="error")]
    assert "cell 2 creates it now, but it was edited after it last ran" in explain_cell_error(cells, 3, "model", 1)


def test_import_cell_stopped_before_its_import():
    imports = "from google.colab import drive\ndrive.mount('/content/drive')\nfrom tensorflow import keras\n"
    cells = [
        cell(1, imports, count=1, status="error", error_line=1, error_type="ModuleNotFoundError"),
        cell(2, "keras.datasets.mnist.load_data()", count=2, status="error"),
    ]
    words = explain_cell_error(cells, 2, "keras", 1)
    assert "cell 1 imports it on line 3, but its last run stopped on line 1 with ModuleNotFoundError" in words
    assert "line 3 never ran" in words


def test_no_cell_creates_it_the_code_says_why_in_cell_words():
    build = "def build_model():\n    return 1\nbuild_model()"
    cells = [cell(1, IMPORTS, count=1), cell(2, build, count=2), cell(3, FIT, count=3, status="error")]
    words = explain_cell_error(cells, 3, "model", 1)
    assert "cell 2, line 3" in words.lower() and "`model = build_model()`" in words
    never_imported = explain_cell_error([cell(1, "layers.Dense(3)", count=1, status="error")], 1, "layers", 1)
    assert "never imported" in never_imported


def test_fresh_failure_explained_with_the_sessions_counts():
    cells = [cell(1, IMPORTS, count=1), cell(2, FIT, count=3), cell(3, MAKE, count=2)]
    words = explain_fresh_failure(cells, 2, "model")
    assert "cell 2 ran fine (In [3]) because cell 3 (In [2]), which creates `model`, had run before it" in words
    assert "Move cell 3's code above cell 2" in words


def test_fresh_failure_from_state_no_cell_holds_any_more():
    cells = [cell(1, IMPORTS, count=1), cell(2, FIT, count=2)]
    assert "no longer in the notebook" in explain_fresh_failure(cells, 2, "model")


def test_fresh_failure_needs_a_session_where_the_cell_ran_fine():
    assert explain_fresh_failure([cell(1, FIT, count=1, status="error")], 1, "model") is None
    assert explain_fresh_failure([cell(1, FIT, None)], 1, "model") is None


def test_binding_line_ignores_names_made_inside_functions():
    assert binding_line("def f():\n    model = 1\nmodel = 2\n", "model") == (3, "assignment")
    assert binding_line("from keras import layers as L\n", "L") == (1, "import")
    assert binding_line("def f():\n    model = 1\n", "model") is None
    assert binding_line("this is ( not python", "model") is None


def test_cell_frame_lines_reads_ipythons_frames_of_one_cell():
    from tutor.explain.traceback_text import cell_frame_lines

    traceback = (
        "NameError                                 Traceback (most recent call last)\n"
        "Cell In[4], line 2\n      1 x = 1\n----> 2 f()\n\n"
        "Cell In[3], line 5, in f()\n----> 5     print(model)\n\n"
        "NameError: name 'model' is not defined"
    )
    assert cell_frame_lines(traceback) == [2, 5]
    assert cell_frame_lines(traceback, 4) == [2]
    assert cell_frame_lines("no frames here") == []
