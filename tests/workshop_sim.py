"""A simulated workshop server for the load tests: a tiny, fast lesson, and a process that runs learners'
submissions through the real RunManager, the real database and the real sandbox.

As a script (the restart test runs it as a child process and kills it):
    python tests/workshop_sim.py DB_URL LESSONS_FOLDER LEARNER_ID... [--solution-only]
It prints one JSON line per event (``submitted`` with the record id, ``finished``), flushed at once.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tutor.lessons.lesson import Lesson, load_lesson  # noqa: E402
from tutor.runs.local import DatabaseRecorder, Job, RunManager  # noqa: E402
from tutor.store.db import Database, open_database  # noqa: E402
from tutor.store.progress import mark_interrupted_runs, new_server_id  # noqa: E402

LESSON_ID = "tiny-fit"
STARTER = """import numpy as np
from tensorflow import keras

rng = np.random.default_rng(0)
x = rng.random((256, 784), dtype="float32")
y = rng.integers(0, 10, size=256)


def build_model():
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


build_model()
model.fit(x, y, epochs=1, batch_size=64, verbose=0)
"""
SOLUTION = STARTER.replace("\nbuild_model()\n", "\nmodel = build_model()\n")
FIRST_TRY = STARTER + "# my first try\n"  # a real attempt that still fails (the bare starter is none)
TOML = f"""schema_version = 1
id = "{LESSON_ID}"
title = "Tiny fit"
summary = "A lesson for load tests: one epoch on 256 random samples."
explanation = "Run it, and read which name is missing."
why = "A bare call throws away what build_model() returns."
hints = ["model = build_model()"]

[limits]
time_s = 120

[starter_fails_with]
error = "NameError"
name = "model"
line = {STARTER.splitlines().index("model.fit(x, y, epochs=1, batch_size=64, verbose=0)") + 1}

[[checks]]
kind = "no_name_error"

[[checks]]
kind = "training_completed"
"""


def write_tiny_lesson(folder: Path) -> Lesson:
    (folder / "lessons").mkdir(parents=True, exist_ok=True)
    (folder / "solutions").mkdir(parents=True, exist_ok=True)
    (folder / "lessons" / f"{LESSON_ID}.toml").write_text(TOML)
    (folder / "lessons" / f"{LESSON_ID}.py").write_text(STARTER)
    (folder / "solutions" / f"{LESSON_ID}.py").write_text(SOLUTION)
    return load_lesson(folder / "lessons" / f"{LESSON_ID}.toml", folder / "solutions")


def emit(**event) -> None:
    print(json.dumps(event), flush=True)


def serve(db: Database, lesson: Lesson, learners: list[str], solution_only: bool, max_running: int = 1) -> None:
    """Each learner submits the starter, then, once it is graded, the solution (one run at a time each)."""
    server = new_server_id()
    emit(event="interrupted", count=mark_interrupted_runs(db, except_server=server))  # a server start
    manager = RunManager(max_running=max_running, recorder=DatabaseRecorder(db, server))
    lock = threading.Lock()

    def submit(learner: str, code: str) -> Job:
        with lock:
            job = manager.submit(learner, lesson, code)
            emit(
                event="submitted",
                record=job.record_id,
                learner=learner,
                code="solution" if code == SOLUTION else "starter",
            )
        return job

    def learner_session(learner: str) -> None:
        codes = [SOLUTION] if solution_only else [STARTER, SOLUTION]
        for code in codes:
            job = submit(learner, code)
            job.done.wait()
            emit(event="finished", record=job.record_id, state=str(job.state))

    threads = [threading.Thread(target=learner_session, args=(learner,)) for learner in learners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    manager.shutdown()
    emit(event="all-done")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    url, folder, learner_ids = args[0], Path(args[1]), args[2:]
    serve(open_database(url), write_tiny_lesson(folder), learner_ids, "--solution-only" in sys.argv)
