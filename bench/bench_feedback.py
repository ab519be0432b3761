"""Benchmark: how fast feedback comes back (issue 5), all in one run, medians over --repeat.

Prints, with times and ratios:
1. verdict latency for the assign-the-model starter (the NameError): warm pool, cold sandbox, and plain
   `python starter.py` on the same data as the baseline (goal: warm median <= 0.5 s);
2. the solution's full run through the sandbox (cold and warm) against plain `python` (goal: ratio
   <= 1.05);
3. a burst of 10 submissions (5 starters, 5 solutions) through the run manager with the app's default
   pool, with and without the express lane: every verdict, p50/p95 latency, and the peak memory in use
   on the whole machine;
4. `streamlit run` to the first rendered page (needs Chromium: scripts/setup.sh --dev).

Usage: .venv/bin/python bench/bench_feedback.py [--repeat 5] [--skip-solution] [--skip-app]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_engine import BASELINE  # noqa: E402 - the same plain-python baseline as bench_engine.py

from tutor import settings  # noqa: E402
from tutor.grading.grade import grade_source  # noqa: E402
from tutor.lessons.lesson import load_lessons  # noqa: E402
from tutor.runs.local import RunManager  # noqa: E402
from tutor.sandbox.dataset import ensure_dataset  # noqa: E402
from tutor.sandbox.isolation import resolve_level, sandbox_env  # noqa: E402
from tutor.sandbox.pool import WarmPool  # noqa: E402

LESSON = load_lessons().get("assign-the-model")


def time_plain(source: str) -> float:
    """`python file.py` as a learner would run it, with Keras' download pointed at the same data."""
    dataset = ensure_dataset()
    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / "main.py"
        script.write_text(source)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", BASELINE, str(dataset.path), str(script)],
            cwd=work,
            env=sandbox_env(work),
            capture_output=True,
        )
        return time.perf_counter() - started


def time_grade(source: str, pool: WarmPool | None, expect_pass: bool) -> tuple[float, bool]:
    started = time.perf_counter()
    verdict = grade_source(LESSON, source, pool=pool)
    elapsed = time.perf_counter() - started
    if verdict.passed != expect_pass or verdict.grader_error:
        raise SystemExit(f"unexpected verdict: passed={verdict.passed} error={verdict.grader_error}")
    results = [case.result for case in verdict.cases if case.result is not None]
    return elapsed, all(result.warm for result in results)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def used_memory_mb() -> float:
    """Memory in use on the whole machine (MemTotal - MemAvailable), in MiB."""
    fields = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return (fields["MemTotal"] - fields["MemAvailable"]) / 1024


def bench_starter(repeat: int) -> None:
    print(f"1. starter verdict latency (NameError), {repeat} runs each")
    pool = WarmPool(1, settings.pool_memory_mb(), ensure_dataset())
    samples: dict[str, list[float]] = {"plain": [], "cold": [], "warm": []}
    warm_flags = []
    try:
        for _ in range(repeat):  # interleaved, so drift hits all alike
            samples["plain"].append(time_plain(LESSON.starter))
            samples["cold"].append(time_grade(LESSON.starter, None, expect_pass=False)[0])
            if not pool.wait_until_ready():
                raise SystemExit("the warm sandbox never became ready")
            elapsed, warm = time_grade(LESSON.starter, pool, expect_pass=False)
            samples["warm"].append(elapsed)
            warm_flags.append(warm)
    finally:
        pool.close()
    print_against_plain(samples, digits=3)
    print(f"   warm runs that really were warm: {sum(warm_flags)}/{len(warm_flags)}")
    print(f"   goal: warm median <= 0.5 s -> {'met' if median(samples['warm']) <= 0.5 else 'NOT met'}")


def print_against_plain(samples: dict[str, list[float]], digits: int) -> None:
    plain = median(samples["plain"])
    for kind in ("plain", "cold", "warm"):
        values = samples[kind]
        print(
            f"   {kind:<5}: median {median(values):6.{digits}f} s   ratio to plain {median(values) / plain:5.3f}   "
            f"samples {', '.join(f'{v:.{digits}f}' for v in values)}"
        )


def bench_solution(repeat: int) -> None:
    print(f"2. solution full run (5 epochs), {repeat} runs each")
    pool = WarmPool(1, settings.pool_memory_mb(), ensure_dataset())
    samples: dict[str, list[float]] = {"plain": [], "cold": [], "warm": []}
    try:
        for _ in range(repeat):
            samples["plain"].append(time_plain(LESSON.solution))
            samples["cold"].append(time_grade(LESSON.solution, None, expect_pass=True)[0])
            pool.wait_until_ready()
            samples["warm"].append(time_grade(LESSON.solution, pool, expect_pass=True)[0])
    finally:
        pool.close()
    print_against_plain(samples, digits=2)
    print("   goal: sandbox/plain ratio <= 1.05 (the grade includes the 16-digit prediction for the page)")


def bench_burst(express: bool) -> None:
    lane = "with" if express else "without"
    print(f"3. burst of 10 submissions (5 starters, 5 solutions) through the run manager, {lane} the express lane")
    baseline = used_memory_mb()
    pool = WarmPool(settings.pool_size() or 2, settings.pool_memory_mb(), ensure_dataset())
    pool.wait_until_ready()
    manager = RunManager(pool=pool, express=express)
    peak = [used_memory_mb()]
    stop = threading.Event()

    def sample_memory() -> None:
        while not stop.wait(0.1):
            peak.append(used_memory_mb())

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    jobs = []
    try:
        for i in range(10):
            source = LESSON.starter if i % 2 == 0 else LESSON.solution
            jobs.append((i % 2 == 1, manager.submit(f"learner-{i}", LESSON, source)))
        for _, job in jobs:
            job.done.wait(600)
    finally:
        stop.set()
        sampler.join()
        manager.shutdown()
    latencies = []
    for expect_pass, job in jobs:
        verdict = job.verdict
        latency = job.finished - job.created
        latencies.append(latency)
        warm = verdict is not None and all(c.result.warm for c in verdict.cases if c.result is not None)
        words = "no verdict" if verdict is None else "passed" if verdict.passed else "not yet"
        right = verdict is not None and verdict.passed == expect_pass
        kind = "solution" if expect_pass else "starter "
        print(
            f"   job {job.id:2d} {kind}: {words:<8} ({'as expected' if right else 'UNEXPECTED'}) "
            f"{latency:6.2f} s {'warm' if warm else 'cold'}"
        )
    print(f"   latency p50 {percentile(latencies, 0.5):.2f} s, p95 {percentile(latencies, 0.95):.2f} s")
    starters = [latency for (expect_pass, _), latency in zip(jobs, latencies, strict=True) if not expect_pass]
    solutions = [latency for (expect_pass, _), latency in zip(jobs, latencies, strict=True) if expect_pass]
    print(f"   starters: median {median(starters):.2f} s; solutions: median {median(solutions):.2f} s")
    print(
        f"   machine memory in use: {baseline:.0f} MiB before, peak {max(peak):.0f} MiB "
        f"(+{max(peak) - baseline:.0f} MiB for pool + runs)"
    )


def bench_app_start(repeat: int) -> None:
    from bench_ui import ARGS, time_first_page
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        samples = [time_first_page(browser)[0] for _ in range(repeat)]  # on the page's own clock
        browser.close()
    print(f"4. server start -> first rendered page: median {median(samples):.2f} s (goal <= 2 s)")
    print(f"   samples {', '.join(f'{v:.2f}' for v in samples)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-solution", action="store_true")
    parser.add_argument("--skip-app", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {platform.machine()}, cores={len(os.sched_getaffinity(0))}, "
        f"sandbox={resolve_level(settings.sandbox_level())}, dataset={ensure_dataset().kind}"
    )
    bench_starter(args.repeat)
    if not args.skip_solution:
        bench_solution(max(1, args.repeat // 2))
        bench_burst(express=True)
        bench_burst(express=False)
    if not args.skip_app:
        bench_app_start(min(args.repeat, 3))


if __name__ == "__main__":
    main()
