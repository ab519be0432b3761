"""Training at the hardware's speed (issue 23): in the sandbox a fit runs 32 batches per call into
TensorFlow wherever the learner's program cannot tell — same epochs, same steps, same metrics, the model as
the learner compiled it afterwards — and not where the learner chose steps_per_execution or a callback of
theirs hooks batches (it is called for every batch, as without the sandbox). Real sandbox, real TensorFlow."""

from __future__ import annotations

import json
import os

import pytest

from tutor.sandbox.isolation import Limits
from tutor.sandbox.runner import RunRequest, run_program

pytestmark = pytest.mark.tf

PROGRAM = """
import json
import os
import numpy as np
import keras

x = np.random.default_rng(0).random((640, 8)).astype("float32")
y = (x.sum(axis=1) > 4).astype("int32")


def make(**compile_args):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], **compile_args)
    return model


class Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(batch)


class Epochs(keras.callbacks.Callback):  # hooks epochs only: the fit may run faster
    def __init__(self):
        super().__init__()
        self.during = []

    def on_epoch_end(self, epoch, logs=None):
        self.during.append(self.model.steps_per_execution)


plain, epochs = make(), Epochs()
history = plain.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[epochs])
hooked, batches = make(), Batches()
hooked.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[batches])
own, own_batches = make(steps_per_execution=4), Batches()
own.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[own_batches])
print(json.dumps({
    "epochs": len(history.history["loss"]), "metrics": sorted(history.history),
    "during": epochs.during, "after": plain.steps_per_execution,
    "hooked_batches": batches.seen, "hooked_during": hooked.steps_per_execution,
    "own_batches": own_batches.seen, "own_after": own.steps_per_execution,
    "evaluated": len(plain.evaluate(x, y, verbose=0)),
}))
"""


def test_a_fit_runs_faster_where_the_program_cannot_tell_and_as_written_where_it_can() -> None:
    result = run_program(RunRequest(PROGRAM, limits=Limits(wall_s=180)))
    assert result.error is None, (result.error, result.stderr[-2000:])
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    # The plain fit ran 32 batches per call; every epoch ran; the metrics are there; the model is as compiled.
    assert facts["during"] == [32, 32, 32]
    assert facts["epochs"] == 3 and facts["metrics"] == ["accuracy", "loss"]
    assert facts["after"] == 1 and facts["evaluated"] == 2  # evaluate after the fit works, on one step a call
    # A callback of the learner's on batches: called for each of the 20 batches of each epoch, as written.
    assert facts["hooked_batches"] == list(range(20)) * 2 and facts["hooked_during"] == 1
    # The learner's own steps_per_execution is theirs: 20 batches in calls of 4.
    assert facts["own_batches"] == [3, 7, 11, 15, 19] and facts["own_after"] == 4
    # What the sandbox reports of the fits: every epoch run and completed, with its history.
    assert [(fit.epochs_run, fit.completed, len(fit.history)) for fit in result.fits] == [(3, True, 3), (2, True, 2),
                                                                                          (1, True, 1)]  # fmt: skip
    assert all({"loss", "accuracy"} <= set(fit.final_metrics) for fit in result.fits)


def test_tensorflow_takes_its_thread_pools_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """TUTOR_TF_THREADS (default: the cores shared out among the runs at once) sizes TensorFlow's pools in the
    sandbox: two trainings at once on two cores ran 1.5x faster with one thread each (bench_threads.py)."""
    program = (
        "import os\nimport tensorflow as tf\nx = tf.ones((2, 2)) @ tf.ones((2, 2))\n"
        "print(os.environ['TF_NUM_INTRAOP_THREADS'], len(os.listdir('/proc/self/task')))\n"
    )
    threads = {}
    for setting in ("1", "4"):
        monkeypatch.setenv("TUTOR_TF_THREADS", setting)
        result = run_program(RunRequest(program, limits=Limits(wall_s=60)))
        said, count = result.stdout.split()
        assert said == setting, result.stderr
        threads[setting] = int(count)
    assert threads["1"] < threads["4"]  # TensorFlow made fewer threads: it read the setting
    monkeypatch.delenv("TUTOR_TF_THREADS")
    monkeypatch.setenv("TUTOR_MAX_RUNS", "2")
    from tutor import settings

    assert settings.tf_threads() == max(1, (os.cpu_count() or 1) // 2)
