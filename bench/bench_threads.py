"""Benchmark: TensorFlow's thread settings for trainings at once on this machine (issue 23, part 1).

Two (``--at-once``) gradings of the `assign-the-model` solution started together through one fork server,
for each thread setting: TensorFlow's own default (a pool as wide as the machine per training; the app
sets TUTOR_TF_THREADS, which this replaces), and intra-op /
inter-op pools set through TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS in the sandbox's environment.
Prints the wall time until both verdicts and each training's own time, median over --repeat.

Usage: .venv/bin/python bench/bench_threads.py [--repeat 2] [--at-once 2] [--settings default,1/1,2/1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tutor import settings  # noqa: E402
from tutor.grading.grade import grade_source  # noqa: E402
from tutor.lessons.lesson import load_lessons  # noqa: E402
from tutor.sandbox import isolation  # noqa: E402
from tutor.sandbox.dataset import ensure_dataset  # noqa: E402
from tutor.sandbox.forkpool import ForkServerPool  # noqa: E402
from tutor.sandbox.isolation import Level  # noqa: E402

LESSON = load_lessons().get("assign-the-model")
SOLUTION = (settings.solutions_dir() / "assign-the-model.py").read_text()


def with_threads(setting: str):
    """sandbox_env with the setting's thread variables (the fork server takes its environment at start)."""
    plain = isolation.sandbox_env

    def env(home: str) -> dict[str, str]:
        values = plain(home)
        values.pop("TF_NUM_INTRAOP_THREADS", None)  # the setting's own (tutor.settings.tf_threads), put aside
        values.pop("TF_NUM_INTEROP_THREADS", None)
        if setting != "default":
            intra, inter = setting.split("/")
            values.update(TF_NUM_INTRAOP_THREADS=intra, TF_NUM_INTEROP_THREADS=inter)
        return values

    return env


def trainings_at_once(pool: ForkServerPool, count: int) -> tuple[float, list[float]]:
    durations: list[float] = [0.0] * count

    def grade(index: int) -> None:
        verdict = grade_source(LESSON, SOLUTION, pool=pool)
        assert verdict.passed, [check.message for check in verdict.checks]
        durations[index] = verdict.cases[0].result.duration_s

    started = time.perf_counter()
    threads = [threading.Thread(target=grade, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, durations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--at-once", type=int, default=2)
    parser.add_argument("--settings", default="default,1/1,2/1", help="intra/inter thread counts, comma-separated")
    args = parser.parse_args()
    for setting in args.settings.split(","):
        isolation.sandbox_env = with_threads(setting)
        pool = ForkServerPool(ensure_dataset(), Level.STRICT)
        try:
            assert pool.wait_until_ready(timeout_s=180), "no fork server"
            trainings_at_once(pool, 1)  # the first run touches fresh memory; not counted
            samples = [trainings_at_once(pool, args.at_once) for _ in range(args.repeat)]
        finally:
            pool.close()
        walls = [wall for wall, _ in samples]
        each = [d for _, durations in samples for d in durations]
        print(
            f"threads {setting:8s}: {args.at_once} trainings at once done in median {statistics.median(walls):5.1f} s "
            f"(samples {', '.join(f'{w:.1f}' for w in walls)}); each training median {statistics.median(each):5.1f} s"
        )


if __name__ == "__main__":
    main()
