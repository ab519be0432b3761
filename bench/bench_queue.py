"""Benchmark: what the queue costs (issue 10). The assign-the-model starter's NameError verdict, from
submit to verdict, medians over --repeat:

1. local mode: the run manager of one server process with a warm pool of 1 (today's default path);
2. queue mode: the app's run service -> PostgreSQL -> one `python -m tutor worker` with a warm pool of 1
   -> the verdict read back from the run's row (the page's path).

Prints both medians and the difference (goal: queue mode <= local mode + 0.15 s). With --throughput N:
N full trainings of the lesson's solution through 1 worker process, then through 2 (one run at a time
each; CPU-bound on a 2-core machine, so reported as it is), and the runs per worker-core per hour the
README's sizing uses. Needs a PostgreSQL
server: --postgres URL (or TUTOR_TEST_POSTGRES_URL, as scripts/test.sh sets it); it makes a database of
its own there and drops it after.

Usage: .venv/bin/python bench/bench_queue.py [--repeat 5] [--throughput 20] [--postgres postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.queue_support import WorkerProcess, fresh_database_url  # noqa: E402
from tutor.lessons.lesson import load_lessons  # noqa: E402
from tutor.runs.local import RunManager  # noqa: E402
from tutor.sandbox.dataset import ensure_dataset  # noqa: E402
from tutor.sandbox.pool import WarmPool  # noqa: E402
from tutor.store.db import IdentitySource, open_database  # noqa: E402
from tutor.store.progress import sign_in_learner  # noqa: E402

LESSON = load_lessons().get("assign-the-model")
POOL_SIZE = os.environ.get("BENCH_POOL_SIZE", "1")  # 0: every training in a cold sandbox (the figures before issue 23)


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
    from tutor.runs.queue.service import QueueRunService

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


def queue_throughput(runs: int, workers: int, url: str, log_dir: Path) -> float:
    """Seconds from submitting ``runs`` solutions at once to the last verdict, with ``workers`` processes."""
    os.environ.update(TUTOR_RUNS="queue", TUTOR_DB_URL=url)
    from tutor.runs.queue.service import QueueRunService

    db = open_database(url)
    service = QueueRunService(db, "bench")
    # The workers as the product starts them: a pool of one (a fork server where it can run, since issue 23).
    started_workers = [WorkerProcess(url, f"bench-{workers}-{i}", log_dir, TUTOR_POOL_SIZE=POOL_SIZE,
                                     TUTOR_MAX_RUNS="1") for i in range(workers)]  # fmt: skip
    try:
        learners = [sign_in_learner(db, IdentitySource.WORKSHOP, f"T{workers}-{i}", f"t{workers}-{i}", "bench").id
                    for i in range(runs)]  # fmt: skip
        started = time.perf_counter()
        ids = [service.submit(learner, LESSON, LESSON.solution).id for learner in learners]
        for run_id in ids:
            while not (snapshot := service.snapshot(run_id)).state.finished:
                time.sleep(0.2)
            assert snapshot.verdict is not None and snapshot.verdict.passed, snapshot.error
        return time.perf_counter() - started
    finally:
        for worker in started_workers:
            worker.stop()
        service.shutdown()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--throughput", type=int, default=0, help="also N full trainings on 1 vs 2 workers")
    parser.add_argument("--postgres", default=os.environ.get("TUTOR_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("needs a PostgreSQL server: --postgres URL (scripts/test-postgres.sh start DIR prints one)")
    local = local_latencies(args.repeat)
    for url in fresh_database_url(args.postgres):
        with tempfile.TemporaryDirectory() as logs:
            queued = queue_latencies(args.repeat, url, Path(logs))
    local_median, queue_median = statistics.median(local), statistics.median(queued)
    for label, times, middle in (("local mode (warm pool)  ", local, local_median),
                                 ("queue mode (warm worker)", queued, queue_median)):  # fmt: skip
        print(f"starter verdict, {label}: median {middle:.3f} s  ({', '.join(f'{t:.2f}' for t in times)})")
    overhead = queue_median - local_median
    print(f"queue overhead: {overhead:+.3f} s (goal <= +0.15 s), ratio {queue_median / local_median:.2f}")
    if args.throughput:
        elapsed = {}
        for workers in (1, 2):
            for url in fresh_database_url(args.postgres):
                with tempfile.TemporaryDirectory() as logs:
                    elapsed[workers] = queue_throughput(args.throughput, workers, url, Path(logs))
            per_hour = args.throughput / elapsed[workers] * 3600
            print(
                f"{args.throughput} trainings, {workers} worker process(es): {elapsed[workers]:.1f} s, "
                f"{per_hour:.0f} runs/hour, {per_hour / workers:.0f} per worker process (one run at a time)"
            )
        print(f"2 workers vs 1: {elapsed[1] / elapsed[2]:.2f}x the throughput on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
