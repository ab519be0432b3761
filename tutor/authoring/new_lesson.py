"""``python -m tutor new-lesson ID [--kind notebook|project]``: a working skeleton a teacher edits into a lesson;
``python -m tutor notebook import FILE.ipynb --id ID``: a notebook lesson made from a notebook.

The skeleton's three files load at once and prove themselves at once: the starter already fails with the
intended ``NameError`` (a bare ``build_model()`` call throws the model away), the solution keeps it,
one wrong variant and one claim show the format. ``starter_fails_with.line`` is left out, so
check-lessons reports the line it found. A notebook skeleton is the same story in ``# %%`` cells; a project
skeleton tells it in two modules (``model_def.py`` builds the model, ``train.py`` imports it and is the program),
its ``starter_fails_with.file`` and ``line`` pinned to the line in ``train.py`` where it fails.

An imported notebook is untrusted input (tutor.lessons.cells.read_ipynb caps and validates it); its lesson
starts with the notebook as both starter and solution, and defaults that load, for the teacher to edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tutor.lessons.cells import code_cells, join_cells, read_ipynb
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import Lesson, LessonError, load_lesson
from tutor.lessons.project import join_modules
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
TODO: the task, and what to look for when the starter runs: which name is missing, on which line, and
where that name should have been created. Not the fix (check-lessons proves no line of it is quoted here).

Run the starter and read which name is missing. Then find the line that should have made it.
"""
why = """
TODO: why the name is missing, shown with the learner's first failing verdict.

The starter calls `build_model()` but does not keep what it returns, so `model.fit(...)` stops with
`NameError: name 'model' is not defined`.
"""
hints = [
    "TODO: where to look, as a question.",
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

# The same story as a notebook (percent format). Its TOML is the script skeleton's (TOML, which the studio
# formats with the id alone) with these lines added below the anchors.
NOTEBOOK_TOML_LINES = (
    (
        "order = 100",
        f'kind = "{LessonKind.NOTEBOOK}"                # "# %%" cells: docs/authoring.md, Notebook lessons',
    ),
    ('name = "model"', "cell = 3                         # the code cell it fails in (code cells count from 1)"),
    (
        "time_s = 120",
        '\n[notebook]\n# The steps the learner\'s session took to meet the error: code cell numbers, and "restart" '
        "(a fresh kernel).\nsession = [1, 2, 3]",
    ),
)
NOTEBOOK_CODE = """\
# %% [markdown]
# # TODO: the notebook's title
#
# Run the cells from the top: the last one stops with a `NameError`.

# %% Imports and data
from tensorflow import keras
from tensorflow.keras import layers

# Load MNIST (10,000 images keep the run quick) and flatten each image into 784 numbers from 0 to 1.
(x_train, y_train), _ = keras.datasets.mnist.load_data()
x_train = x_train[:10000].reshape(10000, 784).astype("float32") / 255
y_train = y_train[:10000]

# %% Build the model
def build_model():
    model = keras.Sequential([layers.Input(shape=(784,)), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


{call}

# %% Train
model.fit(x_train, y_train, epochs=1, batch_size=64)
"""

# The same story as a project of two modules (tutor.lessons.project): its TOML is the script skeleton's with
# these lines added below the anchors, and the script's commented `# line = 17` replaced by the pinned line.
PROJECT_MODULE_DEF = """\
\"\"\"How to build the model: train.py imports it.\"\"\"

from tensorflow import keras
from tensorflow.keras import layers


def build_model():
    model = keras.Sequential([layers.Input(shape=(784,)), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""
PROJECT_TRAIN = """\
\"\"\"The program: run this file (python train.py).\"\"\"

from tensorflow import keras

from model_def import build_model

# Load MNIST (10,000 images keep the run quick) and flatten each image into 784 numbers from 0 to 1.
(x_train, y_train), _ = keras.datasets.mnist.load_data()
x_train = x_train[:10000].reshape(10000, 784).astype("float32") / 255
y_train = y_train[:10000]

{call}
model.fit(x_train, y_train, epochs=1, batch_size=64)
"""
PROJECT_ENTRY = "train.py"
PROJECT_STORY = (  # the why's second paragraph, told for the project
    "The starter calls `build_model()` but does not keep what it returns, so `model.fit(...)` stops with\n",
    "`train.py` (the program) imports `build_model` from `model_def.py` and calls it, but does not keep what it\n"
    "returns, so `model.fit(...)` stops in `train.py` with\n",
)
PROJECT_TOML_LINES = (
    (
        "order = 100",
        f'kind = "{LessonKind.PROJECT}"                 # modules after "# ==> name.py <==" lines: docs/authoring.md, '
        "Project lessons",
    ),
    ('name = "model"', f'file = "{PROJECT_ENTRY}"                # the module it fails in (`line` counts within it)'),
    (
        "time_s = 120",
        "\n[project]\n# The module run as the program (as `python train.py`); the others are files beside it that it "
        f'imports.\nentry = "{PROJECT_ENTRY}"',
    ),
)

IMPORTED_TOML = '''\
# A notebook lesson imported from {source}: the starter ({id}.py) and the solution (solutions/{id}.py) are
# that notebook, in the percent format ("# %%" cells). Make the starter fail and the solution work, then
# fix the values below marked TODO (docs/authoring.md, Notebook lessons).
schema_version = 1
id = "{id}"
kind = "{kind}"
order = 100
title = "TODO: a short title"
summary = "TODO: one line for the overview page."
explanation = """
TODO: the task, and what to look for when the learner runs the cells (the error, its cell and line); not the fix.
"""
why = """
TODO: why the error happens, shown with the learner's first failing verdict.
"""
hints = [
    "TODO: where to look, as a question.",
    "TODO: nearly the answer.",
]

[limits]
time_s = 120

[starter_fails_with]
error = "NameError"              # TODO: the error the starter meets
# name = "model"                 # TODO: the missing name
cell = {last}                         # TODO: the code cell it fails in (code cells count from 1)

[notebook]
# TODO: the steps the learner's session took to meet the error: code cell numbers, and "restart".
session = {session}

[[checks]]
kind = "no_name_error"

[[checks]]
kind = "no_error"
'''


class NewLessonError(Exception):
    """The skeleton was not written (bad id, or a file that would be overwritten)."""


@dataclass
class Skeleton:
    lesson: Lesson
    files: list[Path]


def write_skeleton(
    lesson_id: str, lessons_dir: Path, solutions_dir: Path, kind: LessonKind = LessonKind.SCRIPT
) -> Skeleton:
    """Write lessons/<id>.toml, lessons/<id>.py and solutions/<id>.py; never overwrite a file."""
    _check_id(lesson_id)
    return _write(lesson_id, lessons_dir, solutions_dir, *skeleton_texts(lesson_id, kind))


def skeleton_texts(lesson_id: str, kind: LessonKind = LessonKind.SCRIPT) -> tuple[str, str, str]:
    """The skeleton's (TOML, starter, solution) texts, unwritten (the studio opens a new draft with them)."""
    toml, code = TOML.format(id=lesson_id), CODE
    if kind is LessonKind.NOTEBOOK:
        toml, code = _below_anchors(toml, NOTEBOOK_TOML_LINES), NOTEBOOK_CODE
    elif kind is LessonKind.PROJECT:
        return _project_texts(toml)
    return toml, code.format(call=STARTER_CALL), code.format(call=SOLUTION_CALL)


def _project_texts(script_toml: str) -> tuple[str, str, str]:
    starter, solution = (
        join_modules([("model_def.py", PROJECT_MODULE_DEF), (PROJECT_ENTRY, PROJECT_TRAIN.format(call=call))])
        for call in (STARTER_CALL, SOLUTION_CALL)
    )
    # The line in train.py where the starter fails (model.fit), counted as check-lessons counts it.
    line = PROJECT_TRAIN.splitlines().index("model.fit(x_train, y_train, epochs=1, batch_size=64)") + 1
    toml = _below_anchors(script_toml, PROJECT_TOML_LINES)
    commented = next(row for row in toml.split("\n") if row.startswith("# line = "))
    pinned = f"line = {line}".ljust(33) + f"# counted within {PROJECT_ENTRY}, from its first line below the header"
    toml = toml.replace(commented, pinned, 1).replace(PROJECT_STORY[0], PROJECT_STORY[1], 1)
    return toml, starter, solution


def import_notebook(raw: bytes, source: str, lesson_id: str, lessons_dir: Path, solutions_dir: Path) -> Skeleton:
    """A notebook lesson whose starter and solution are the notebook ``raw`` (an .ipynb file's bytes, named
    ``source`` in the TOML's comment); NotebookError says why a file cannot be one."""
    _check_id(lesson_id)
    cells = read_ipynb(raw)
    numbers = [cell.number for cell in code_cells(cells)]
    if not numbers:
        raise NewLessonError(f"{source} has no code cell: a notebook lesson runs code")
    code = join_cells(cells)
    toml = IMPORTED_TOML.format(
        source=" ".join(source.split()),  # a file name in a comment: one line
        id=lesson_id,
        kind=LessonKind.NOTEBOOK,
        last=numbers[-1],
        session="[" + ", ".join(str(n) for n in numbers) + "]",
    )
    return _write(lesson_id, lessons_dir, solutions_dir, toml, code, code)


def _below_anchors(text: str, additions: tuple[tuple[str, str], ...]) -> str:
    lines = text.split("\n")
    for anchor, addition in additions:
        at = next(i for i, line in enumerate(lines) if line.startswith(anchor))  # StopIteration: a template changed
        lines.insert(at + 1, addition)
    return "\n".join(lines)


def _check_id(lesson_id: str) -> None:
    if not ID_PATTERN.match(lesson_id):
        raise NewLessonError(
            f"{lesson_id!r} is not a lesson id: use lowercase words joined by '-', e.g. keep-the-model"
        )


def _write(lesson_id: str, lessons_dir: Path, solutions_dir: Path, toml: str, starter: str, solution: str) -> Skeleton:
    """Write the three files (never over a file) and load them; a lesson that does not load is taken back."""
    files = {
        lessons_dir / f"{lesson_id}.toml": toml,
        lessons_dir / f"{lesson_id}.py": starter,
        solutions_dir / f"{lesson_id}.py": solution,
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
        return Skeleton(load_lesson(lessons_dir / f"{lesson_id}.toml", solutions_dir), written)
    except OSError as exc:
        _remove(written)
        raise NewLessonError(f"could not write the lesson: {exc}") from None
    except LessonError:
        _remove(written)  # half a lesson in the lessons folder would show as broken on the Teacher page
        raise


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
