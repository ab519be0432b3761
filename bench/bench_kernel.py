"""Benchmark: notebook kernels (issue 20). Prints
- kernel start: from the learner's first Run to a ready kernel, warm (from the pool: TensorFlow already
  imported) and cold (goal: warm ≤ 1 s);
- a `print` cell's round trip on a warm kernel through the hub the page uses (submit, then the page's poll
  sees the output), against the same cell in a plain local `jupyter_client` kernel with no sandbox — the
  learner's own Jupyter — as a ratio (goal: ≤ 0.5 s on screen; the page adds its poll and draw);
- a 3-epoch MNIST training cell in the kernel.
Usage:
    .venv/bin/python bench/bench_kernel.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRAIN = """
(x_train, y_train), _ = keras.datasets.mnist.load_data()
x_train = x_train.reshape(60000, 784).astype("float32") / 255
model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0)
"""


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def round_trips(run, repeat: int) -> list[float]:
    """Seconds from submit to the output seen; run() returns that (or None: measured here)."""
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        seen = run(f"print({i})")
        times.append(seen if seen is not None else time.perf_counter() - started)
    return times


def bench_plain_jupyter(repeat: int) -> list[float]:
    """The learner's own machine: a local ipykernel, no sandbox."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:

        def run(code: str) -> None:
            client.execute_interactive(code, timeout=30, output_hook=lambda message: None)

        run("import keras")
        return round_trips(run, repeat)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from tutor.kernels.hub import KernelHub
    from tutor.kernels.process import kernel_limits
    from tutor.sandbox.dataset import ensure_dataset
    from tutor.sandbox.pool import WarmPool

    dataset = ensure_dataset()
    pool = WarmPool(1, 8000, dataset, prefault_mb=0)
    assert pool.wait_until_ready(1, 180), "the warm pool did not get ready"
    hub = KernelHub(pool=pool, dataset=dataset, idle_s=600)
    limits = kernel_limits(300)

    def run_on(owner: str):
        def run(code: str) -> float:
            started = time.perf_counter()
            batch = hub.run_cells(owner, "bench", [("c", code)], limits)
            seen = None
            while True:  # what the page does: poll the batch until the cell's output is there
                runs, done = batch.snapshot()
                if seen is None and (done or (runs and runs[0].outputs)):
                    seen = time.perf_counter() - started
                if done:
                    assert runs and runs[0].status == "ok", runs
                    return seen
                time.sleep(0.005)

        return run

    try:
        warm_start = run_on("warm")("x = 1")
        cold_start = run_on("cold")("x = 1")  # the pool is empty now (it refills in the background): cold
        sandboxed = round_trips(run_on("warm"), args.repeat)
        plain = bench_plain_jupyter(args.repeat)
        started = time.perf_counter()
        run_on("warm")("import keras\n" + TRAIN + "print('trained')")
        training = time.perf_counter() - started
    finally:
        hub.close()
        pool.close()
    print(f"kernel start to first cell done: warm {warm_start:.2f} s (goal <= 1 s), cold {cold_start:.2f} s")
    ratio = statistics.median(sandboxed) / statistics.median(plain)
    print(
        f"print cell round trip (median of {args.repeat}): sandboxed kernel via the hub {median_ms(sandboxed)} ms, "
        f"plain local Jupyter kernel {median_ms(plain)} ms, ratio {ratio:.2f}"
    )
    print(f"3-epoch MNIST training cell in a warm kernel: {training:.1f} s")


if __name__ == "__main__":
    main()
