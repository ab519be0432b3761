"""Benchmark: what the queue costs (issue 10). The assign-the-model starter's NameError verdict, from
submit to verdict, medians over --repeat:

1. local mode: the run manager of one server process with a warm pool of 1 (today's default path);
2. queue mode: the app's run service -> PostgreSQL -> one `python -m tutor worker` with a warm pool of 1
   -> the verdict read back from the run's row (the page's path).

Prints both medians and the difference (goal: queue mode <= local mode + 0.15 s). Needs a PostgreSQL
server: --postgres URL (or TUTOR_TEST_POSTGRES_URL, as scripts/test.sh sets it); it makes a database of
its own there and drops it after.

Usage: .venv/bin/python bench/bench_queue.py [--repeat 5] [--postgres postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.queue_support import WorkerProcess, fresh_database_url  # noqa: E402
from tutor.data import ensure_dataset  # noqa: E402
from tutor.db import IdentitySource, open_database  # noqa: E402
from tutor.jobs import RunManager  # noqa: E402
from tutor.lessons import load_lessons  # noqa: E402
from tutor.pool import WarmPool  # noqa: E402
from tutor.progress import sign_in_learner  # noqa: E402

LESSON = load_lessons().get("assign-the-model")


def wait_warm(ready, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit("no warm sandbox within 180 s")
        time.sleep(0.1)


def local_latencies(repeat: int) -> list[float]:
    pool = WarmPool(1, 1536, ensure_dataset())
    manager = RunManager(max_running=1, pool=pool)
    times = []
    try:
        for i in range(repeat):
            wait_warm(lambda: pool.stats().ready == 1)
            started = time.perf_counter()
            job = manager.submit(f"learner-{i}", LESSON, LESSON.starter)
            job.done.wait(120)
            times.append(time.perf_counter() - started)
            assert job.verdict is not None and job.verdict.first_error["name"] == "model", job.error
    finally:
        manager.shutdown()
    return times


def queue_latencies(repeat: int, url: str, log_dir: Path) -> list[float]:
    os.environ.update(TUTOR_RUNS="queue", TUTOR_DB_URL=url, TUTOR_WORKER_HEARTBEAT_S="1")
    from tutor.queue import QueueRunService

    db = open_database(url)
    service = QueueRunService(db, "bench")
    worker = WorkerProcess(url, "bench-worker", log_dir, TUTOR_POOL_SIZE="1", TUTOR_WORKER_HEARTBEAT_S="0.2")
    times = []
    try:
        for i in range(repeat):
            wait_warm(lambda: any(w.warm == 1 for w in service.workers()))
            learner = sign_in_learner(db, IdentitySource.WORKSHOP, f"L{i}", f"l{i}", "bench").id
            started = time.perf_counter()
            run_id = service.submit(learner, LESSON, LESSON.starter).id
            while not (snapshot := service.snapshot(run_id)).state.finished:
                time.sleep(0.01)
            times.append(time.perf_counter() - started)
            assert snapshot.verdict is not None and snapshot.verdict.first_error["name"] == "model", snapshot.error
    finally:
        worker.stop()
        service.shutdown()
        db.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("TUTOR_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("needs a PostgreSQL server: --postgres URL (scripts/test-postgres.sh start DIR prints one)")
    local = local_latencies(args.repeat)
    for url in fresh_database_url(args.postgres):
        import tempfile

        with tempfile.TemporaryDirectory() as logs:
            queued = queue_latencies(args.repeat, url, Path(logs))
    local_median, queue_median = statistics.median(local), statistics.median(queued)
    for label, times, middle in (("local mode (warm pool)  ", local, local_median),
                                 ("queue mode (warm worker)", queued, queue_median)):  # fmt: skip
        print(f"starter verdict, {label}: median {middle:.3f} s  ({', '.join(f'{t:.2f}' for t in times)})")
    overhead = queue_median - local_median
    print(f"queue overhead: {overhead:+.3f} s (goal <= +0.15 s), ratio {queue_median / local_median:.2f}")


if __name__ == "__main__":
    main()
