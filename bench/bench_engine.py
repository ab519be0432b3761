"""Benchmark: the sandbox runner against a plain `python solution.py` on the same data.

Prints, for the assign-the-model solution, the median wall time of each (alternating, in one run), their
ratio (goal <= 0.5: issue 23, training at the hardware's speed), and the peak memory (max RSS) of each.
Three kinds: plain python (TensorFlow's own thread defaults, as on the learner's machine), a cold sandbox
(imports TensorFlow itself), and a run forked from a fork server (the app's path where it can run;
tutor/sandbox/forkserver.py; the server is started and ready before the clock starts). Usage:
    .venv/bin/python bench/bench_engine.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The baseline: the same file run by plain Python, with Keras' MNIST download pointed at the same data
# the sandbox serves (this machine has no internet).
BASELINE = """
import runpy, sys
import keras.src.datasets.mnist as mnist
path = sys.argv[1]
original = mnist.get_file
mnist.get_file = lambda fname=None, origin=None, **kw: path if fname == "mnist.npz" else original(fname, origin, **kw)
sys.argv = [sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def learner_env(env: dict[str, str]) -> dict[str, str]:
    """The learner's own machine: TensorFlow's own thread defaults, not the app's (TUTOR_TF_THREADS)."""
    return {k: v for k, v in env.items() if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}


def measure_one(kind: str) -> dict:
    """Run once in this (fresh) process; report wall time and the peak RSS of the children."""
    from tutor.lessons.lesson import load_lessons
    from tutor.sandbox.dataset import ensure_dataset
    from tutor.sandbox.isolation import sandbox_env
    from tutor.sandbox.runner import RunRequest, run_program

    lesson = load_lessons().get("assign-the-model")
    dataset = ensure_dataset()
    pool = None
    if kind == "forked":
        from tutor.sandbox.forkpool import ForkServerPool
        from tutor.sandbox.isolation import Level

        pool = ForkServerPool(dataset, Level.STRICT)
        assert pool.wait_until_ready(timeout_s=180), "no fork server"
    started = time.perf_counter()
    if kind in ("runner", "forked"):
        result = run_program(RunRequest(lesson.solution), dataset=dataset, pool=pool)
        assert result.warm is (pool is not None)
        ok = result.last_fit is not None and result.last_fit.completed
        # The sandboxed process is reaped inside its own pid namespace, so RUSAGE_CHILDREN cannot see
        # it: the harness reports its own peak.
        peak_mb = result.peak_memory_mb or 0.0
    else:
        with tempfile.TemporaryDirectory() as work:
            script = Path(work) / "solution.py"
            script.write_text(lesson.solution)
            completed = subprocess.run(
                [sys.executable, "-c", BASELINE, str(dataset.path), str(script)],
                cwd=work,
                env=learner_env(sandbox_env(work)),
                capture_output=True,
            )
            ok = completed.returncode == 0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    wall = time.perf_counter() - started
    if pool is not None:
        pool.close()
    return {"kind": kind, "wall_s": wall, "peak_mb": peak_mb, "ok": ok}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", choices=["runner", "forked", "plain"])
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one)))
        return
    samples: dict[str, list[dict]] = {"runner": [], "forked": [], "plain": []}
    for _ in range(args.repeat):
        for kind in ("plain", "runner", "forked"):  # alternate, so drift hits all alike
            out = subprocess.run([sys.executable, __file__, "--one", kind], capture_output=True, text=True, check=True)
            sample = json.loads(out.stdout.strip().splitlines()[-1])
            if not sample["ok"]:
                raise SystemExit(f"{kind} run failed: {sample}")
            samples[kind].append(sample)
    wall = {kind: statistics.median(s["wall_s"] for s in runs) for kind, runs in samples.items()}
    peak = {kind: max(s["peak_mb"] for s in runs) for kind, runs in samples.items()}
    print(f"assign-the-model solution, {args.repeat} runs each, medians")
    print(f"  plain python : {wall['plain']:6.2f} s   peak {peak['plain']:7.0f} MB")
    print(f"  cold sandbox : {wall['runner']:6.2f} s   peak {peak['runner']:7.0f} MB")
    print(f"  forked run   : {wall['forked']:6.2f} s   peak {peak['forked']:7.0f} MB")
    for kind, runs in samples.items():
        print(f"  {kind:<6} samples: " + ", ".join(f"{s['wall_s']:.2f}" for s in runs))
    print(f"  ratio cold sandbox/plain wall time: {wall['runner'] / wall['plain']:.3f}  (goal <= 0.5)")
    print(f"  ratio forked run/plain wall time:   {wall['forked'] / wall['plain']:.3f}  (goal <= 0.5)")
    print(f"  ratio sandbox/plain peak memory: {peak['runner'] / peak['plain']:.3f}")


if __name__ == "__main__":
    main()
