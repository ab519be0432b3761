"""Fixture scripts in the sandbox: the time to make `load-or-build`'s saved model cold (an empty cache,
the script runs in a fresh sandbox with TensorFlow) vs from the cache (script + name + Keras version).

    .venv/bin/python bench/bench_fixtures.py [--repeat N]
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

from tutor.authoring.proofs import generated_files  # noqa: E402
from tutor.lessons.fixtures import generate_fixture  # noqa: E402
from tutor.lessons.lesson import load_lessons  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lesson = load_lessons(ROOT / "lessons", ROOT / "solutions").get("load-or-build")
    case_file = generated_files(lesson)[0]
    cold, cached = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as var:
            os.environ["TUTOR_VAR_DIR"] = var  # an empty cache
            started = time.perf_counter()
            generate_fixture(case_file)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            generate_fixture(case_file)
            cached.append(time.perf_counter() - started)
    cold_median, cached_median = statistics.median(cold), statistics.median(cached)
    print(f"fixture {case_file.name} of {lesson.id}, {args.repeat} runs each")
    print(f"  cold  : median {cold_median:7.3f} s   samples {', '.join(f'{s:.3f}' for s in cold)}")
    print(f"  cached: median {cached_median:7.3f} s   samples {', '.join(f'{s:.4f}' for s in cached)}")
    print(f"  ratio cached/cold: {cached_median / cold_median:.4f}")


if __name__ == "__main__":
    main()
