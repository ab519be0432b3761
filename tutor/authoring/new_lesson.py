"""``python -m tutor new-lesson ID``: a working skeleton a teacher edits into a lesson.

The three files load at once and prove themselves at once: the starter already fails with the
intended ``NameError`` (a bare ``build_model()`` call throws the model away), the solution keeps it,
one wrong variant and one claim show the format. ``starter_fails_with.line`` is left out, so
check-lessons reports the line it found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tutor.lessons.lesson import Lesson, load_lesson
from tutor.lessons.schema import ID_PATTERN

TOML = '''\
# A new lesson: edit the text, the starter ({id}.py) and the solution (solutions/{id}.py).
# Every key is described in docs/authoring.md; `python -m tutor schema` prints the JSON Schema.
schema_version = 1
id = "{id}"                      # must match the file name; progress is stored under it
order = 100                      # position in the lesson list
title = "TODO: a short title"
summary = "TODO: one line for the overview page."
explanation = """
TODO: what happens when the starter runs (the exact error and its line), why, and the task.

The starter calls `build_model()` but does not keep what it returns, so `model.fit(...)` stops with
`NameError: name 'model' is not defined`.
"""
hints = [
    "TODO: where to look.",
    "TODO: nearly the answer: `model = build_model()`.",
]

[limits]
time_s = 120

[starter_fails_with]
error = "NameError"
name = "model"
# line = 17                      # optional: left out, check-lessons reports the line it found

[[checks]]
kind = "no_name_error"

[[checks]]
kind = "no_error"

[[checks]]
kind = "training_completed"

[[checks]]
kind = "model_is_keras_model"

[[checks]]
kind = "model_was_trained"

[[wrong]]
id = "compare-instead-of-assign"
description = "`==` compares and needs `model` to exist already; it does not assign."
replace = [["model = build_model()", "model == build_model()"]]
fails = ["no_name_error"]

[[claims]]
id = "bare-call-discards-result"
statement = "A bare call throws the returned value away: no name is created."
code = """
def build_model():
    model = "a model"
    return model

build_model()
print(model)
"""
expect_error = "NameError"
expect_message = "name 'model' is not defined"
'''

CODE = """\
from tensorflow import keras
from tensorflow.keras import layers

# Load MNIST (10,000 images keep the run quick) and flatten each image into 784 numbers from 0 to 1.
(x_train, y_train), _ = keras.datasets.mnist.load_data()
x_train = x_train[:10000].reshape(10000, 784).astype("float32") / 255
y_train = y_train[:10000]


def build_model():
    model = keras.Sequential([layers.Input(shape=(784,)), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


{call}
model.fit(x_train, y_train, epochs=1, batch_size=64)
"""
STARTER_CALL = "build_model()  # the bug: what build_model() returns is thrown away"
SOLUTION_CALL = "model = build_model()  # keep what build_model() returns"


class NewLessonError(Exception):
    """The skeleton was not written (bad id, or a file that would be overwritten)."""


@dataclass
class Skeleton:
    lesson: Lesson
    files: list[Path]


def write_skeleton(lesson_id: str, lessons_dir: Path, solutions_dir: Path) -> Skeleton:
    """Write lessons/<id>.toml, lessons/<id>.py and solutions/<id>.py; never overwrite a file."""
    if not ID_PATTERN.match(lesson_id):
        raise NewLessonError(
            f"{lesson_id!r} is not a lesson id: use lowercase words joined by '-', e.g. keep-the-model"
        )
    files = {
        lessons_dir / f"{lesson_id}.toml": TOML.format(id=lesson_id),
        lessons_dir / f"{lesson_id}.py": CODE.format(call=STARTER_CALL),
        solutions_dir / f"{lesson_id}.py": CODE.format(call=SOLUTION_CALL),
    }
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise NewLessonError(f"not overwriting {', '.join(existing)}: choose another id or remove the file(s)")
    written: list[Path] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as handle:  # "x": fails rather than overwrite a racing file
                handle.write(text)
            written.append(path)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise NewLessonError(f"could not write the skeleton: {exc}") from None
    return Skeleton(load_lesson(lessons_dir / f"{lesson_id}.toml", solutions_dir), written)
