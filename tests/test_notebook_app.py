"""The notebook lesson page through AppTest, on a fake kernel hub (no sandbox, no TensorFlow): a cell's
NameError said in cell words, In [n] in the order cells ran, a cell edited since it ran, moving cells (the
kept text follows), Restart (In [ ] again, outputs kept as an earlier kernel's), a dead or shut-down kernel
said (a dead one keeps In [n] until Restart; a run after an idle shutdown says so), adding and deleting cells
(ids and history kept, the kept text follows, Undo delete), and where a graded Restart & Run All stopped, in
cells. The real kernel and grader: test_browser_notebook."""

from __future__ import annotations

import ast
import builtins
import itertools
from dataclasses import dataclass, field

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_app import texts
from tutor.kernels.contract import CellOutput, CellRun, CellStatus, KernelInfo, KernelState, OutputKind
from tutor.kernels.hub import CellBatch

LESSON = "notebook-cell-order"
TRAIN, BUILD = 2, 3  # the starter's code cells: 1 imports and data, 2 trains, 3 builds the model


@dataclass
class FakeKernel:
    names: set[str] = field(default_factory=set)
    count: int = 0


class FakeHub:
    """Runs cells by their names alone: a statement that reads a name no earlier cell (or line) bound raises
    NameError there, as a kernel would; everything else is "ok". What the page calls of KernelHub."""

    def __init__(self) -> None:
        self.kernels: dict[tuple[str, str], FakeKernel] = {}
        self.state: dict[tuple[str, str], tuple[KernelState, str]] = {}
        self.batches: list[list[tuple[str, str]]] = []
        self.ids = itertools.count(1)

    def info(self, owner: str, lesson_id: str) -> KernelInfo:
        state, message = self.state.get((owner, lesson_id), (KernelState.NONE, ""))
        kernel = self.kernels.get((owner, lesson_id))
        return KernelInfo(state, message, kernel.count if kernel else 0, shutdown_after_s=900)

    def run_cells(self, owner, lesson_id, cells, limits=None, files=None) -> CellBatch:
        self.batches.append(list(cells))
        key = (owner, lesson_id)
        kernel = self.kernels.setdefault(key, FakeKernel())
        self.state[key] = (KernelState.IDLE, "")
        batch = CellBatch(next(self.ids), list(cells))
        for position, (cell_id, code) in enumerate(cells):
            kernel.count += 1
            run = run_fake(kernel, cell_id, code)
            batch.runs.append(run)
            if run.status is not CellStatus.OK:
                batch.runs += [
                    CellRun(rest, CellStatus.NOT_RUN, note="Not run: a cell above stopped with an error.")
                    for rest, _ in cells[position + 1 :]
                ]
                break
        batch.done = True
        return batch

    def stop(self, owner, lesson_id) -> None:
        pass

    def restart(self, owner, lesson_id) -> None:
        self.kernels.pop((owner, lesson_id), None)
        self.state[(owner, lesson_id)] = (KernelState.NONE, "")

    def shutdown(self, owner, lesson_id, message="") -> None:
        self.kernels.pop((owner, lesson_id), None)
        self.state[(owner, lesson_id)] = (KernelState.SHUT_DOWN, message)


def run_fake(kernel: FakeKernel, cell_id: str, code: str) -> CellRun:
    run = CellRun(cell_id, CellStatus.OK, kernel.count)
    for statement in ast.parse(code).body:
        for node in ast.walk(statement):
            read = isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
            if read and node.id not in kernel.names and not hasattr(builtins, node.id):
                trace = f"NameError  Traceback (most recent call last)\nCell In[{kernel.count}], line {node.lineno}"
                text = f"NameError: name '{node.id}' is not defined"
                run.outputs.append(CellOutput(OutputKind.ERROR, text, "NameError", traceback=trace))
                run.status = CellStatus.ERROR
                return run
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                kernel.names.add(node.id)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                kernel.names.update((a.asname or a.name).split(".")[0] for a in node.names)
        if "fit(" in ast.unparse(statement):
            run.outputs.append(CellOutput(OutputKind.STREAM, "Epoch 1/3\r100/100 loss 0.3\n", "stdout"))
    return run


@pytest.fixture
def hub(monkeypatch) -> FakeHub:
    import app_pages.notebook

    fake = FakeHub()
    monkeypatch.setattr(app_pages.notebook, "kernels", lambda: fake)
    return fake


def notebook_app() -> AppTest:
    def script() -> None:
        from app_pages.lesson import render_lesson

        render_lesson("notebook-cell-order")

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def cells(at: AppTest):
    return at.session_state["notebooks"][LESSON].code_cells()


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def run_cell(at: AppTest, number: int) -> AppTest:
    return click(at, f"run-{LESSON}-{cells(at)[number - 1].id}")


def prompts(at: AppTest) -> list[str]:
    return [p for p in texts(at).split("\n") if p.startswith("In [")]


def test_the_notebook_shows_its_cells_and_a_blank_in_before_any_run(hub: FakeHub) -> None:
    at = notebook_app()
    page = texts(at)
    assert "Train a digit classifier" in page  # the teacher's markdown cell, as Markdown
    assert [p.split(" Cell")[0] for p in prompts(at)] == ["In [ ]:"] * 3
    assert "Cell 2 · Train" in page and "Cell 3 · Build the model" in page
    labels = [b.label for b in at.button]
    for label in ("Run all", "Restart kernel", "Restart & run all", "Grade", "Run cell 1", "Move cell 3 up"):
        assert any(label in shown for shown in labels), (label, labels)
    assert "Kernel: none yet." in page and "Kernels shut down after 15 minutes without a run" in page


def test_a_cell_s_run_says_running_before_its_draw_waits_for_the_output(hub: FakeHub, monkeypatch) -> None:
    """Issue 23: the click's callback waited up to CELL_QUICK_WAIT_S for the cell before anything was drawn.
    The draw now says "Running your cell…" first (sent to the browser before the wait), then the output."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    at = notebook_app()
    events: list[str] = []
    enqueue, wait = ScriptRunContext.enqueue, CellBatch.wait

    def record(ctx, msg) -> None:
        element = msg.delta.new_element
        events.append(element.html.body if element.WhichOneof("type") == "html" else "")
        enqueue(ctx, msg)

    def waiting(batch, timeout_s: float) -> bool:
        events.append("WAIT")
        return wait(batch, timeout_s)

    monkeypatch.setattr(ScriptRunContext, "enqueue", record)
    monkeypatch.setattr(CellBatch, "wait", waiting)
    at = run_cell(at, 1)
    assert "WAIT" in events, "the cell was not waited for"
    before = events[: events.index("WAIT")]
    assert any("Running your cell…" in e and 'role="status"' in e for e in before), before
    assert "Running your cell…" not in texts(at) and prompts(at)[0].startswith("In [1]:")


def test_the_fit_cell_first_is_a_name_error_said_in_cell_words(hub: FakeHub) -> None:
    at = run_cell(notebook_app(), 1)
    at = run_cell(at, TRAIN)
    page = texts(at)
    assert "NameError: name 'model' is not defined (cell 2, line 1)" in page
    why = page.split("Why: ", 1)[1].split("\n", 1)[0]
    assert "Cell 2 uses model" in why and "cell 3" in why and "below it" in why, why
    assert "Traceback" in [e.label for e in at.expander]
    assert prompts(at)[:2] == ["In [1]: Cell 1 · Imports and data", "In [2]: Cell 2 · Train"]


def test_build_then_fit_trains_and_in_numbers_tell_the_order(hub: FakeHub) -> None:
    at = notebook_app()
    for number in (1, BUILD, TRAIN):
        at = run_cell(at, number)
    assert [p.split(" Cell")[0] for p in prompts(at)] == ["In [1]:", "In [3]:", "In [2]:"]
    assert "100/100 loss 0.3" in [c.value for c in at.code]  # the stream as a terminal shows it (\r overwrites)
    assert "is not defined (cell" not in texts(at) and "Why: " not in texts(at)
    assert [c.status for c in cells(at)] == ["ok", "ok", "ok"]


def test_a_cell_edited_since_it_ran_says_so(hub: FakeHub) -> None:
    at = run_cell(notebook_app(), 1)
    cells(at)[0].source += "\nprint('more')"
    at.run()
    assert "Edited since it ran: In [1] and the output below are from its earlier text." in texts(at)


def test_moving_the_model_cell_up_keeps_its_history_and_the_kept_text_follows(hub: FakeHub) -> None:
    at = run_cell(notebook_app(), BUILD)
    build = cells(at)[BUILD - 1]
    at = click(at, f"up-{LESSON}-{build.id}")
    assert cells(at)[1] is build and build.execution_count == 1  # cell 2 now, its In [1] kept
    code = at.session_state["lessons"][LESSON].code
    assert code.index("# %% Build the model") < code.index("# %% Train")
    assert code.endswith("\n") and "\n\n# %% Train" in code  # the blank lines stay in place
    at = click(at, f"run-all-{LESSON}")
    assert [c.status for c in cells(at)] == ["ok", "ok", "ok"]
    assert hub.batches[-1] == [(c.id, c.source) for c in cells(at)]  # Run all: every cell, top to bottom


def test_restart_clears_in_numbers_and_keeps_outputs_as_an_earlier_kernel_s(hub: FakeHub) -> None:
    at = run_cell(notebook_app(), 1)
    at = run_cell(at, TRAIN)
    at = click(at, f"restart-{LESSON}")
    assert [p.split(" Cell")[0] for p in prompts(at)] == ["In [ ]:"] * 3
    page = texts(at)
    assert "Output from an earlier kernel" in page
    assert "Why: " not in page  # the NameError of a gone kernel is not explained as now
    at = click(at, f"run-restart-all-{LESSON}")
    assert [c.execution_count for c in cells(at)] == [1, 2, None]  # from the top: cell 2 stops Run all
    assert "Not run: a cell above stopped with an error." in texts(at)


def test_a_dead_or_shut_down_kernel_is_said(hub: FakeHub) -> None:
    at = run_cell(notebook_app(), 1)
    owner = next(iter(hub.kernels))[0]
    hub.state[(owner, LESSON)] = (KernelState.DEAD, "Your kernel died, and its variables went with it.")
    at.run()
    page = texts(at)
    assert "Your kernel died — restart it. Your kernel died, and its variables went with it." in page
    assert cells(at)[0].execution_count == 1  # a dead kernel's In [n] stay until Restart, as in Jupyter
    assert prompts(at)[0].startswith("In [1]:")
    hub.shutdown(owner, LESSON, "Your kernel was shut down after 15 minutes without a run.")
    at.run()
    assert "Kernel: shut down. Your kernel was shut down after 15 minutes without a run." in texts(at)
    assert cells(at)[0].execution_count is None  # a shut-down kernel is gone: its In [n] with it


def test_a_dead_kernel_keeps_in_numbers_until_restart(hub: FakeHub) -> None:
    at = run_cell(notebook_app(), 1)
    at = run_cell(at, BUILD)
    owner = next(iter(hub.kernels))[0]
    hub.state[(owner, LESSON)] = (KernelState.DEAD, "Your kernel died. Its process exited: `os._exit` ends a kernel.")
    at.run()
    at.run()  # and on every draw after
    assert [c.execution_count for c in cells(at)] == [1, None, 2]
    assert [p.split(" Cell")[0] for p in prompts(at)] == ["In [1]:", "In [ ]:", "In [2]:"]
    assert "Output from an earlier kernel" not in texts(at)
    at = click(at, f"restart-{LESSON}")
    assert [p.split(" Cell")[0] for p in prompts(at)] == ["In [ ]:"] * 3


def test_a_run_after_an_idle_shutdown_says_so_and_starts_afresh(hub: FakeHub) -> None:
    at = run_cell(notebook_app(), 1)
    at = run_cell(at, BUILD)
    owner = next(iter(hub.kernels))[0]
    # The hub shut the kernel down while the page sat idle (nothing was drawn since): the next click is Run.
    hub.shutdown(owner, LESSON, "Your kernel was shut down after 5 s without a run; its variables are gone.")
    at = run_cell(at, BUILD)
    assert [c.execution_count for c in cells(at)] == [None, None, 1]  # a fresh kernel's In [1]
    page = texts(at)
    assert (
        "Your kernel was shut down after 5 s without a run; its variables are gone. This run starts a fresh "
        "kernel." in page
    )
    assert prompts(at)[0].startswith("In [ ]:")  # cell 1 ran in the kernel that was shut down


def test_add_a_cell_below_then_delete_it(hub: FakeHub) -> None:
    at = run_cell(notebook_app(), 1)
    first, train, build = cells(at)
    at = click(at, f"add-{LESSON}-{first.id}")
    assert len(cells(at)) == 4
    new = cells(at)[1]
    assert new.source == "" and new not in (first, train, build)
    assert [c.id for c in cells(at)] == [first.id, new.id, train.id, build.id]  # the others keep their ids
    assert first.execution_count == 1  # and their history
    labels = [b.label for b in at.button]
    assert any(label.endswith("Add cell below cell 4") for label in labels)
    assert any(label.endswith("Delete cell 2") for label in labels)
    code = at.session_state["lessons"][LESSON].code
    assert "# %% Imports and data" in code and code.count("# %%") == 5  # the kept text has the new cell
    # The learner writes in it, and runs it.
    new.source = "seen = x_train"
    at.run()
    at = run_cell(at, 2)
    assert new.execution_count == 2 and "seen = x_train" in at.session_state["lessons"][LESSON].code
    # Deleted: the kept text follows; Undo delete brings it back, with its history.
    at = click(at, f"delete-{LESSON}-{new.id}")
    assert [c.id for c in cells(at)] == [first.id, train.id, build.id]
    assert "seen = x_train" not in at.session_state["lessons"][LESSON].code
    at = click(at, f"undo-delete-{LESSON}")
    assert cells(at)[1] is new and new.execution_count == 2
    assert "seen = x_train" in at.session_state["lessons"][LESSON].code


def test_add_below_the_last_cell_keeps_the_text_s_end(hub: FakeHub) -> None:
    at = notebook_app()
    starter = at.session_state["lessons"][LESSON].code
    build = cells(at)[-1]
    at = click(at, f"add-{LESSON}-{build.id}")
    code = at.session_state["lessons"][LESSON].code
    assert code == starter.rstrip("\n") + "\n\n# %%\n"  # an empty cell at the end, the text ends as it did
    at = click(at, f"delete-{LESSON}-{cells(at)[-1].id}")
    assert at.session_state["lessons"][LESSON].code == starter


def test_the_last_code_cell_cannot_be_deleted(hub: FakeHub) -> None:
    at = notebook_app()
    for cell in cells(at)[:-1]:
        at = click(at, f"delete-{LESSON}-{cell.id}")
    (last,) = cells(at)
    assert at.button(key=f"delete-{LESSON}-{last.id}").disabled
    assert "# %% Build the model" in at.session_state["lessons"][LESSON].code
    assert "Train a digit classifier" in texts(at)  # the markdown cell stays


def test_ctrl_enter_in_a_cell_runs_it(hub: FakeHub) -> None:
    at = notebook_app()
    first = cells(at)[0]
    key = f"cell-editor-{LESSON}-0-{first.id}"
    at.session_state[key] = first.source + "\u0000RUN12345"
    at.run()
    assert not at.exception
    assert hub.batches == [[(first.id, first.source)]] and first.execution_count == 1


def test_where_the_graded_run_stopped_is_placed_in_cells() -> None:
    from tutor import settings
    from tutor.grading.verdict import CaseVerdict, Verdict
    from tutor.lessons.lesson import load_lesson
    from tutor.sandbox.results import ErrorInfo, RunResult, Termination
    from ui.notebook import verdict_name_error, verdict_place

    lesson = load_lesson(settings.lessons_dir() / f"{LESSON}.toml")
    line = next(c for c in lesson.starter_cells if c.number == TRAIN).first_line
    error = ErrorInfo("NameError", "name 'model' is not defined", line, name="model", is_name_error=True)
    result = RunResult(Termination.FINISHED, 1.0, error=error)
    verdict = Verdict(LESSON, False, [CaseVerdict("default", "default", False, [], result)])
    assert verdict_place(verdict, lesson.starter) == (TRAIN, 1)
    assert verdict_name_error(verdict) == "model"
