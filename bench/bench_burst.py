"""Benchmark: a class pressing Run at once (issue 23, part 3).

Thirty learners submit their own edit of the `assign-the-model` starter together (each program different:
a line of its own added at the top), in queue mode with two workers (`TUTOR_MAX_RUNS=1`,
`TUTOR_POOL_SIZE=1` each), on this machine. Prints p50/p95 of each run's time from queued to verdict, read
from the runs' own rows (submitted_at -> finished_at), and checks that every verdict came back as the
intended NameError. Done twice: with the fork server (the default where it can run) and with
`TUTOR_FORK_SERVER=off` (a warm sandbox per run, each importing TensorFlow) for comparison.

Goal: p95 <= 10 s with the fork server (was p50 32 s, p95 56 s).

Needs a PostgreSQL server: --postgres URL (or TUTOR_TEST_POSTGRES_URL; `scripts/test-postgres.sh start DIR`
prints one). A database of its own is made there and dropped after.

Usage: .venv/bin/python bench/bench_burst.py [--learners 30] [--workers 2] [--modes auto,off]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.queue_support import WorkerProcess, fresh_database_url  # noqa: E402
from tutor.lessons.lesson import load_lessons  # noqa: E402
from tutor.store.db import IdentitySource, Run, open_database  # noqa: E402
from tutor.store.progress import sign_in_learner  # noqa: E402

LESSON = load_lessons().get("assign-the-model")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def burst(url: str, learners: int, workers: int, fork_server: str, log_dir: Path) -> list[float]:
    os.environ.update(TUTOR_RUNS="queue", TUTOR_DB_URL=url)
    from sqlalchemy import select

    from tutor.runs.queue.service import QueueRunService

    db = open_database(url)
    service = QueueRunService(db, "bench")
    started = [
        WorkerProcess(url, f"burst-{fork_server}-{i}", log_dir, TUTOR_POOL_SIZE="1", TUTOR_MAX_RUNS="1",
                      TUTOR_FORK_SERVER=fork_server, TUTOR_WORKER_HEARTBEAT_S="0.5")
        for i in range(workers)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while sum(w.warm >= 1 for w in service.workers()) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not get warm within 240 s")
            time.sleep(0.2)
        ids = [sign_in_learner(db, IdentitySource.WORKSHOP, f"B{i}", f"b{i}", "bench").id for i in range(learners)]
        programs = [f"print('learner {i} was here')\n{LESSON.starter}" for i in range(learners)]
        run_ids: list[str] = [""] * learners
        go = threading.Barrier(learners)

        def press_run(index: int) -> None:
            go.wait()
            run_ids[index] = service.submit(ids[index], LESSON, programs[index]).id

        pressers = [threading.Thread(target=press_run, args=(i,)) for i in range(learners)]
        for thread in pressers:
            thread.start()
        for thread in pressers:
            thread.join()
        for run_id in run_ids:
            while not (snapshot := service.snapshot(run_id)).state.finished:
                time.sleep(0.1)
            first = snapshot.verdict.first_error if snapshot.verdict is not None else None
            assert first is not None and first["name"] == "model", (snapshot.error, first)
        with db.sessions() as session:
            rows = session.execute(select(Run.submitted_at, Run.finished_at).where(Run.id.in_(run_ids))).all()
        assert len(rows) == learners
        return [(finished - submitted).total_seconds() for submitted, finished in rows]
    finally:
        for worker in started:
            worker.stop()
        service.shutdown()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default="auto,off", help="TUTOR_FORK_SERVER values to compare")
    parser.add_argument("--postgres", default=os.environ.get("TUTOR_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("needs a PostgreSQL server: --postgres URL (scripts/test-postgres.sh start DIR prints one)")
    print(f"{args.learners} learners press Run at once, {args.workers} workers, {os.cpu_count()} cores")
    for mode in args.modes.split(","):
        for url in fresh_database_url(args.postgres):
            with tempfile.TemporaryDirectory() as logs:
                waits = burst(url, args.learners, args.workers, mode, Path(logs))
        label = "fork server" if mode == "auto" else "warm sandboxes (TUTOR_FORK_SERVER=off)"
        p50, p95 = statistics.median(waits), percentile(waits, 0.95)
        print(
            f"{label:40s}: queued -> verdict p50 {p50:5.1f} s, p95 {p95:5.1f} s, max {max(waits):5.1f} s "
            f"({len(waits)} NameError verdicts, goal p95 <= 10 s)"
        )


if __name__ == "__main__":
    main()
