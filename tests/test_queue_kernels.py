"""Queue mode's notebook kernels with their real parts: the throwaway PostgreSQL, real `python -m tutor worker`
processes running real kernels in the strict sandbox, the app's run service. A kernel lives on one worker
and its cells go there; a worker that dies is "your kernel died — restart it", as Jupyter says.

Plain-Python cells (no TensorFlow): each test takes seconds. The JSON round trip of a cell's run (what a
worker writes and the page reads back) is checked here too, hostile rows included."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.queue_support import HEARTBEAT_S, WorkerProcess, alive, fresh_database_url, queue_env, wait_until
from tutor.kernels.contract import CellOutput, CellRun, CellStatus, KernelState, OutputKind
from tutor.runs.queue.kernels import NO_WORKER, WORKER_DIED, QueueKernels, kernel_queue
from tutor.runs.queue.service import QueueRunService
from tutor.runs.queue.store import list_workers
from tutor.sandbox.isolation import Limits
from tutor.sandbox.protocol import MAX_FIGURE_BYTES
from tutor.store.db import open_database

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LESSON = "notebook-restart"


# The JSON round trip ------------------------------------------------------------------------------------


def through_json(run: CellRun) -> CellRun:
    return CellRun.from_dict(json.loads(json.dumps(run.to_dict())))


def test_a_cell_run_survives_the_json_round_trip() -> None:
    run = CellRun(
        "c2",
        CellStatus.ERROR,
        7,
        [
            CellOutput(OutputKind.STREAM, "step 1\n", name="stdout"),
            CellOutput(OutputKind.RESULT, "42"),
            CellOutput(OutputKind.IMAGE, "<Figure>", png=PNG),
            CellOutput(OutputKind.ERROR, "NameError: name 'model' is not defined", "NameError", None, "Trace\n..."),
        ],
        0.25,
        "",
    )
    assert through_json(run) == run
    interrupted = CellRun("c3", CellStatus.INTERRUPTED, None, [], 1.5, "You stopped the cell.")
    assert through_json(interrupted) == interrupted


def good_run() -> dict:
    return CellRun("c", CellStatus.OK, 1, [CellOutput(OutputKind.IMAGE, "fig", png=PNG)]).to_dict()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.update(status="exploded"),
        lambda d: d.update(execution_count=True),
        lambda d: d.update(execution_count="3"),
        lambda d: d.update(duration_s=float("nan")),
        lambda d: d.update(cell_id=["c"]),
        lambda d: d.update(note="x" * 100_000),
        lambda d: d.update(outputs={"kind": "stream"}),
        lambda d: d["outputs"].append("text"),
        lambda d: d["outputs"].append({"kind": "stream", "text": 42}),
        lambda d: d["outputs"].append({"kind": "shell", "text": ""}),
        lambda d: d["outputs"].append({"kind": "image", "text": ""}),  # an image without its PNG
        lambda d: d["outputs"].append({"kind": "stream", "text": "", "png": base64.b64encode(PNG).decode()}),
        lambda d: d["outputs"][0].update(png=base64.b64encode(b"GIF89a" + b"\0" * 10).decode()),
        lambda d: d["outputs"][0].update(png="not base64!"),
        lambda d: d["outputs"][0].update(png=base64.b64encode(PNG + b"\0" * MAX_FIGURE_BYTES).decode()),
    ],
)
def test_a_hostile_row_is_refused_at_the_boundary(spoil) -> None:
    data = good_run()
    assert CellRun.from_dict(json.loads(json.dumps(data))) is not None  # the unspoiled one is fine
    spoil(data)
    with pytest.raises(ValueError):
        CellRun.from_dict(json.loads(json.dumps(data)))


def test_a_worker_s_queue_name_fits_a_postgresql_channel() -> None:
    assert kernel_queue("w1") == "kernels:w1"
    long = kernel_queue("a-very-long-host-name.example.org:123456")
    assert len(("procrastinate_queue_v1#" + long).encode()) <= 63
    assert long != kernel_queue("a-very-long-host-name.example.org:123457")


# With real workers --------------------------------------------------------------------------------------


@pytest.fixture
def queue_url(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> str:
    for url in fresh_database_url(postgres_url):
        for key, value in queue_env(url).items():
            if key.startswith("TUTOR_"):
                monkeypatch.setenv(key, value)
        yield url


@pytest.fixture
def workers(queue_url: str, tmp_path: Path):
    started: list[WorkerProcess] = []
    db = open_database(queue_url)

    def start(name: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(queue_url, name, tmp_path, **env)
        started.append(worker)
        wait_until(lambda: any(w.name == name and w.alive for w in list_workers(db, float(HEARTBEAT_S))), 20)
        return worker

    yield start
    for worker in started:
        worker.stop()
    db.dispose()


@pytest.fixture
def service(queue_url: str):
    db = open_database(queue_url)
    runs = QueueRunService(db, "test-server")
    yield runs
    runs.shutdown()
    db.dispose()


def run(kernels: QueueKernels, owner: str, *codes: str, timeout: float = 60) -> list[CellRun]:
    batch = kernels.run_cells(owner, LESSON, [(f"c{i}", code) for i, code in enumerate(codes)], Limits(wall_s=20))
    assert batch.wait(timeout), "the batch never finished"
    runs, done = batch.snapshot()
    assert done and len(runs) == len(codes), runs
    return runs


def worker_of(service: QueueRunService, owner: str) -> str | None:
    with service.db.engine.connect() as connection:
        return connection.scalar(text("SELECT worker FROM tutor_kernels WHERE owner = :o"), {"o": owner})


def batch_workers(service: QueueRunService, owner: str) -> list[str]:
    with service.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT worker FROM tutor_kernel_batches WHERE owner = :o ORDER BY id"), {"o": owner}
        )
        return [row[0] for row in rows]


def wait_info(kernels: QueueKernels, owner: str, state: KernelState, timeout: float = 20):
    wait_until(lambda: kernels.info(owner, LESSON).state is state, timeout)
    return kernels.info(owner, LESSON)


@pytest.mark.needs("bubblewrap")
def test_a_kernel_keeps_its_state_between_batches_on_its_worker(workers, service) -> None:
    workers("w1")
    kernels = service.kernels()
    assert kernels.info("ada", LESSON).state is KernelState.NONE
    [first] = run(kernels, "ada", "x = 41")
    assert (first.status, first.execution_count) == (CellStatus.OK, 1), first
    second, third = run(kernels, "ada", "print(x + 1)", "x * 2")
    assert (second.status, second.execution_count, second.stream_text()) == (CellStatus.OK, 2, "42\n")
    assert [(o.kind, o.text) for o in third.outputs] == [(OutputKind.RESULT, "82")]
    [error] = run(kernels, "ada", "print(model)")
    assert error.status is CellStatus.ERROR and error.execution_count == 4
    assert error.error.name == "NameError" and error.error.text == "NameError: name 'model' is not defined"
    assert "print(model)" in error.error.traceback
    # Run all stops at the error, as Jupyter's does: the cell after it did not run.
    failed, after = run(kernels, "ada", "model.fit()", "print('never')")
    assert failed.status is CellStatus.ERROR and after.status is CellStatus.NOT_RUN
    info = wait_info(kernels, "ada", KernelState.IDLE)
    assert info.execution_count == 5 and info.message == ""
    assert batch_workers(service, "ada") == ["w1"] * 4 and worker_of(service, "ada") == "w1"


@pytest.mark.needs("bubblewrap")
def test_stop_interrupts_the_cell_and_the_kernel_lives_on(workers, service) -> None:
    workers("w1")
    kernels = service.kernels()
    run(kernels, "ada", "kept = 'still here'")
    batch = kernels.run_cells("ada", LESSON, [("loop", "print('looping', flush=True)\nwhile True:\n    pass")])
    wait_until(lambda: "looping" in "".join(r.stream_text() for r in batch.snapshot()[0]), 30)
    assert not batch.snapshot()[1]
    busy = kernels.run_cells("ada", LESSON, [("c", "print(1)")]).snapshot()  # one batch at a time
    assert busy[1] and "still running" in busy[0][0].note
    kernels.stop("ada", LESSON)
    assert batch.wait(15)
    [stopped] = batch.snapshot()[0]
    assert stopped.status is CellStatus.INTERRUPTED and stopped.note == "You stopped the cell."
    [after] = run(kernels, "ada", "print(kept)")
    assert after.stream_text() == "still here\n"


@pytest.mark.needs("bubblewrap")
def test_kernels_spread_over_the_workers_and_each_learner_s_cells_go_to_theirs(workers, service) -> None:
    first, second = workers("w1"), workers("w2")
    kernels = service.kernels()
    run(kernels, "ada", "who = 'ada'")
    run(kernels, "bob", "who = 'bob'")
    assert {worker_of(service, "ada"), worker_of(service, "bob")} == {"w1", "w2"}  # one kernel each
    assert first.descendants() and second.descendants()  # each worker runs a kernel's sandbox
    for _ in range(3):
        for owner in ("ada", "bob"):
            [answer] = run(kernels, owner, "print(who)")
            assert answer.stream_text() == f"{owner}\n"
    for owner in ("ada", "bob"):
        assert batch_workers(service, owner) == [worker_of(service, owner)] * 4


@pytest.mark.needs("bubblewrap")
def test_a_killed_worker_s_kernel_is_dead_until_restarted(workers, service) -> None:
    doomed = workers("doomed")
    kernels = service.kernels()
    run(kernels, "ada", "x = 'kept'")
    survivor = workers("survivor")
    running = kernels.run_cells("ada", LESSON, [("slow", "import time\nprint('a', flush=True)\ntime.sleep(60)"),
                                                ("next", "print(x)")])  # fmt: skip
    wait_until(lambda: "a" in "".join(r.stream_text() for r in running.snapshot()[0]), 30)
    sandbox = doomed.descendants()
    doomed.kill()
    wait_until(lambda: not alive(sandbox), 5)  # the kernel went with its worker
    assert running.wait(10), "the page would wait for ever"
    died, skipped = running.snapshot()[0]
    assert (died.status, died.note) == (CellStatus.DIED, WORKER_DIED)
    assert died.stream_text() == "a\n"  # what it printed before is kept
    assert (skipped.status, skipped.note) == (CellStatus.NOT_RUN, WORKER_DIED)
    info = kernels.info("ada", LESSON)
    assert info.state is KernelState.DEAD and info.message == WORKER_DIED
    assert info.message.startswith("Your kernel died: the worker it ran on stopped.")
    # Until the learner restarts it, the cells do not run, and they are told why (not sent elsewhere).
    [refused] = run(kernels, "ada", "print('hello')")
    assert (refused.status, refused.note) == (CellStatus.NOT_RUN, WORKER_DIED)
    assert worker_of(service, "ada") == "doomed"
    kernels.restart("ada", LESSON)
    assert kernels.info("ada", LESSON).state is KernelState.NONE
    fresh, gone = run(kernels, "ada", "print('hello')", "print(x)")
    assert (fresh.status, fresh.stream_text(), fresh.execution_count) == (CellStatus.OK, "hello\n", 1)
    assert gone.status is CellStatus.ERROR and gone.error.name == "NameError"  # its variables are gone
    assert worker_of(service, "ada") == "survivor"
    assert survivor.descendants()


@pytest.mark.needs("bubblewrap")
def test_restart_gives_a_fresh_kernel_and_ends_the_old_one(workers, service) -> None:
    worker = workers("w1")
    kernels = service.kernels()
    run(kernels, "ada", "x = 1")
    before = worker.descendants()
    assert before
    kernels.restart("ada", LESSON)
    wait_until(lambda: not alive(before), 10)  # the worker ended the old kernel's sandbox
    [after] = run(kernels, "ada", "print(x)")
    assert after.status is CellStatus.ERROR and after.execution_count == 1


def test_no_worker_no_kernel(service) -> None:
    [refused] = run(service.kernels(), "ada", "print(1)")
    assert (refused.status, refused.note) == (CellStatus.NOT_RUN, NO_WORKER)
    assert refused.note.startswith("No worker is running")
    assert service.kernels().info("ada", LESSON).state is KernelState.NONE


def test_a_hostile_batch_row_is_said_in_words_not_shown(service) -> None:
    """A batch whose runs in the database are not what a worker writes (an image that is no PNG)."""
    with service.db.engine.begin() as connection:  # a live worker, as far as the row knows
        connection.execute(
            text(
                "INSERT INTO tutor_workers (name, host, pid, capacity, running, warm, started_at, heartbeat_at) "
                "VALUES ('w1', 'h', 1, 1, 0, 0, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc' + interval '1 h')"
            )
        )
    batch = service.kernels().run_cells("ada", LESSON, [("c", "print(1)")])
    spoiled = [{"cell_id": "c", "status": "ok", "outputs": [{"kind": "image", "text": "", "png": "R0lGOA=="}]}]
    with service.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE tutor_kernel_batches SET runs = CAST(:runs AS jsonb), version = 1"),
            {"runs": json.dumps(spoiled)},
        )
    runs, done = batch.snapshot()
    assert done and [(r.status, r.outputs) for r in runs] == [(CellStatus.NOT_RUN, [])]
    assert "cannot read" in runs[0].note
