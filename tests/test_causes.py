"""Every cause of the vocabulary (tutor.lessons.causes), told from the source by tutor.grading.name_error:
the cause, what the diagnosis must say (and must not give away) and the fix. Written after the shapes people
post: a name never imported next to an import believed to bind it, an object under another name, a result
thrown away, a branch that did not run, a Lambda layer's global at load time. (notebook-order, told from
cells, is tested with the notebooks in tests/test_notebook_explain.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.grading.imports import NAMES_FILE, suggest_import
from tutor.grading.name_error import analyze_name_error
from tutor.lessons.causes import CAUSE_LABELS, NameCause, cause_label

# (id, source, name, line, keyword arguments, cause, in the diagnosis, in the fix)
CASES = [
    (
        "keras-believed-bound-by-from-import",
        "from keras.layers import Dense\nmodel = keras.Sequential([Dense(3)])\n",
        "keras", 2, {}, NameCause.NOT_IMPORTED,
        ["`from keras.layers import Dense`, binds only `Dense`", "never `keras`"], "Add `import keras`",
    ),
    (
        "K-with-clear-session-imported",
        "from keras.backend import clear_session\nclear_session()\nK.clear_session()\n",
        "K", 3, {}, NameCause.NOT_IMPORTED,
        ["binds only `clear_session`", "usual short name for Keras's backend"], "`from keras import backend as K`",
    ),
    (
        "K-with-the-backend-imported-as-backend",
        "from keras import backend\n\ndef rmse(a, b):\n    return K.sqrt(K.mean(a - b))\n\nloss = rmse\n",
        "K", 4, {}, NameCause.NOT_IMPORTED, ["`from keras import backend`, binds only `backend`"],
        "Or write `backend` where you wrote `K`: line 1 binds that.",
    ),
    (
        "Model-not-did-you-mean-model",
        "from keras.layers import Dense, Input\nx = Input((3,))\nm = Model(x, Dense(2)(x))\nmodel = m\n",
        "Model", 3, {}, NameCause.NOT_IMPORTED, ["never imported"], "`from keras.models import Model`",
    ),
    (
        "tf-keras-style-kept",
        "from tensorflow.keras.layers import Dense\nm = Sequential([Dense(2)])\n",
        "Sequential", 2, {}, NameCause.NOT_IMPORTED, [], "`from tensorflow.keras.models import Sequential`",
    ),
    (
        "keras-2-backend-function",
        "from keras.layers import Dense\ndef train():\n    K.set_value(1, 2)\ntrain()\n", "K", 3, {},
        NameCause.NOT_IMPORTED, ["never imported"], "`from keras import backend as K`",
    ),
    (
        "python-2-name", "for i in xrange(3):\n    pass\n", "xrange", 1, {}, NameCause.MISSPELLED,
        ["Python 2's name", "called `range`"], "Write `range` instead of `xrange`.",
    ),
    (
        "notebook-name-in-a-script", "get_ipython().run_line_magic('matplotlib', 'inline')\n", "get_ipython", 1, {},
        NameCause.NOT_IMPORTED, ["never imported"], "`from IPython import get_ipython`",
    ),
    (
        "companion-library-name", "a, b = train_test_split([1, 2])\n", "train_test_split", 1, {},
        NameCause.NOT_IMPORTED, [], "`from sklearn.model_selection import train_test_split`",
    ),
    (
        "global-made-by-a-function-never-called",
        "def load():\n    global model\n    model = 1\n\ndef predict():\n    return model + 1\n\nprint(predict())\n",
        "model", 6, {"function": "predict"}, NameCause.NEVER_ASSIGNED,
        ["`load()` creates the global `model` (line 3)", "nothing in your code calls `load()`"], "Call `load()` before",
    ),
    (
        "global-made-by-a-function-called-later",
        "def load():\n    global model\n    model = 1\n\nprint(model)\nload()\n",
        "model", 5, {}, NameCause.USED_BEFORE_ASSIGNED, ["the first call to `load()` is line 6"], "Call `load()`",
    ),
    (
        "star-import-of-a-project-module", "from model_def import *\nmodel.fit(1)\n", "model", 2, {},
        NameCause.NEVER_ASSIGNED, ["`from model_def import *`, binds only what `model_def` creates at its top level"],
        "",
    ),
    (
        "stdlib-module", "import os\nprint(sys.argv)\n", "sys", 2, {}, NameCause.NOT_IMPORTED, [], "`import sys`",
    ),
    (
        "callback-class", "cb = [ModelCheckpoint('best.keras')]\n", "ModelCheckpoint", 1, {},
        NameCause.NOT_IMPORTED, [], "`from keras.callbacks import ModelCheckpoint`",
    ),
    (
        "attribute-path",
        "class U:\n    def __init__(self):\n        self.model = 1\nunet_model = U()\n"
        "unet_model.model.fit()\nmodel.fit()\n",
        "model", 6, {}, NameCause.MISSPELLED, ["the object lives at `unet_model.model`"], "Write `unet_model.model`",
    ),
    (
        "self-attribute-in-a-method",
        "class T:\n    def __init__(self):\n        self.model = 1\n    def train(self):\n        model.fit()\n",
        "model", 5, {"function": "train"}, NameCause.MISSPELLED, ["`self.model`"], "Write `self.model`",
    ),
    (
        "instance-attribute-at-module-level",
        "class Trainer:\n    def __init__(self):\n        self.model = 1\ntrainer = Trainer()\nmodel.fit()\n",
        "model", 5, {}, NameCause.MISSPELLED, ["lives at `trainer.model` (line 4)"], "Write `trainer.model`",
    ),
    (
        "same-methods",
        "model_final = make()\nmodel_final.predict(x)\nmodel_loaded.predict(x)\n",
        "model_loaded", 3, {}, NameCause.MISSPELLED, ["`model_final` is, and is used with `.predict`"],
        "write `model_final`",
    ),
    (
        "typo", "modle = 1\nmodel.fit()\n", "model", 2, {}, NameCause.MISSPELLED, ["Did you mean `modle`?"],
        "Use one spelling: `modle`.",
    ),
    (
        "module-name-used-like-a-model", "import numpy as np\nmodel = 3\nmodels.fit(x)\n", "models", 3, {},
        NameCause.MISSPELLED, ["Did you mean `model`?"], "Use one spelling: `model`",
    ),
    (
        "class-name-used-like-the-model", "model = make()\nModel.fit(x)\n", "Model", 2, {}, NameCause.MISSPELLED,
        ["Did you mean `model`?"], "Use one spelling: `model`",
    ),
    (
        "a-keras-name-misspelled", "m = Sequental()\n", "Sequental", 1, {}, NameCause.MISSPELLED,
        ["Did you mean Keras's `Sequential`?"], "`from keras.models import Sequential`",
    ),
    (
        "import-alias", "import tensorflow as tf\nx = tensorflow.constant(1)\n", "tensorflow", 2, {},
        NameCause.MISSPELLED, ["`import tensorflow as tf` binds `tf`"], "Write `tf`",
    ),
    (
        "kept-under-another-name",
        "def setup():\n    model = 1\n    return model\n\nmy_model = setup()\nmodel.fit()\n",
        "model", 6, {}, NameCause.MISSPELLED, ["keeps what `setup()` returns as `my_model`"], "`model = setup()`",
    ),
    (
        "commented-out", "# model = build()\nmodel.fit()\n", "model", 2, {}, NameCause.NEVER_ASSIGNED,
        ["never assigned or imported", "Line 1, which would create it, is commented out"], "",
    ),
    (
        "discarded-result",
        "def build_model():\n    model = 1\n    return model\n\nbuild_model()\nmodel.fit()\n",
        "model", 6, {}, NameCause.DISCARDED_RESULT, ["the result is not kept"], "`model = build_model()`",
    ),
    (
        "discarded-result-of-a-function-returning-directly",
        "def build_model():\n    return [1]\n\nbuild_model()\nmodel.fit()\n", "model", 5, {},
        NameCause.DISCARDED_RESULT, ["Line 4 calls `build_model()`", "not kept"], "`model = build_model()`",
    ),
    (
        "compared-not-assigned",
        "def build_model():\n    return 1\n\nmodel == build_model()\nmodel.fit()\n",
        "model", 4, {}, NameCause.COMPARED_NOT_ASSIGNED, ["Line 4 writes `model == build_model()`", "`==` compares"],
        "`model = build_model()`",
    ),
    (
        "local-scope", "def setup():\n    model = 1\n\nsetup_done = True\nmodel.fit()\n", "model", 5, {},
        NameCause.LOCAL_SCOPE, ["assigned only inside `setup()`"], "Return it",
    ),
    (
        "local-of-a-function-that-returns-something-else",
        "def build():\n    base_model = 1\n    model = [base_model]\n    return model\n\nmodel = build()\n"
        "print(base_model)\n",
        "base_model", 7, {}, NameCause.LOCAL_SCOPE, ["assigned only inside `build()`"], "Return it",
    ),
    (
        "local-shadowing-a-global", "count = 1\ndef f():\n    count += 1\nf()\n", "count", 3,
        {"function": "f", "unbound_local": True}, NameCause.LOCAL_SCOPE, ["local variable of the whole function"],
        "different name",
    ),
    (
        "used-before-assigned", "model.fit()\nmodel = make()\n", "model", 1, {}, NameCause.USED_BEFORE_ASSIGNED,
        ["line 2, which runs later"], "Move line 2 (and what it needs) above line 1.",
    ),
    (
        "import-after-use", "x = np.zeros(3)\nimport numpy as np\n", "np", 1, {}, NameCause.USED_BEFORE_ASSIGNED,
        ["the first line that imports it"], "Move line 2",
    ),
    (
        "branch-not-taken-loop", "for face in faces:\n    preds = f(face)\nprint(preds)\n", "preds", 3, {},
        NameCause.BRANCH_NOT_TAKEN, ["inside the `for` loop on line 1", "`faces` was empty", "the loop body never ran"],
        "even when the loop runs zero times",
    ),
    (
        "branch-not-taken-if",
        "faces = []\nif faces:\n    preds = 1\nelse:\n    print('no face')\nprint(preds)\n", "preds", 6, {},
        NameCause.BRANCH_NOT_TAKEN, ["inside the `if` on line 2", "the `else` on line 4 ran instead"],
        "assign it in the `else` on line 4 too",
    ),
    (
        "branch-not-taken-in-a-function", "def f(flag):\n    if flag:\n        y = 1\n    return y\nf(False)\n", "y", 4,
        {"function": "f", "unbound_local": True}, NameCause.BRANCH_NOT_TAKEN,
        ["inside the `if` on line 2", "For this call of `f()`, its condition was false", "there is no `else`"],
        "add an `else` branch",
    ),
    (
        "deleted", "model = 1\ndel model\nmodel.fit()\n", "model", 3, {}, NameCause.DELETED,
        ["Line 2 deletes `model`"], "Remove the `del`",
    ),
    (
        "load-failed",
        "import keras\ntry:\n    model = keras.models.load_model('m.keras')\nexcept Exception:\n    print('no')\n"
        "model.fit()\n",
        "model", 6, {}, NameCause.LOAD_FAILED, ["by `load_model(...)` inside a `try` block", "the `except` on line 4"],
        "in the `except` branch",
    ),
    (
        "lambda-global",
        "from keras.models import load_model\nmodel = load_model('with_lambda.h5')\n", "tf", 2, {},
        NameCause.LAMBDA_GLOBAL, ["`Lambda` layers", "uses `tf`"], "Add `import tensorflow as tf`",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "name", "line", "kwargs", "cause", "says", "fix"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_each_cause_is_named_and_explained(source, name, line, kwargs, cause, says, fix) -> None:
    analysis = analyze_name_error(source, name, line, **kwargs)
    assert analysis.cause == cause, analysis.summary
    for words in says:
        assert words in analysis.diagnosis, analysis.diagnosis
    if fix:
        assert fix in analysis.fix, analysis.fix
        assert fix not in analysis.diagnosis  # teach before telling: the fix is kept apart
    else:
        assert analysis.fix == ""
    assert analysis.to_dict()["cause"] == str(cause)


def test_every_cause_but_notebook_order_has_a_script_case() -> None:
    covered = {case[5] for case in CASES}
    # notebook-order is told from cells (tests/test_notebook_explain.py), other-module from a project's
    # modules (tests/test_project.py): neither from one script.
    assert set(NameCause) - covered == {NameCause.NOTEBOOK_ORDER, NameCause.OTHER_MODULE}


def test_the_vocabulary_has_labels_and_unknown_values_have_none() -> None:
    assert set(CAUSE_LABELS) == set(NameCause)
    assert cause_label("discarded-result") == "result of the call not kept"
    assert cause_label("<script>") is None and cause_label(None) is None


BRANCHES = (
    "n = 60_000\nprint(n)\nif n > 100_000:\n    model = 'wide'\nelif n < 10_000:\n    model = 'narrow'\n\nmodel.fit()\n"
)


def test_an_if_elif_without_else_neither_ran() -> None:
    analysis = analyze_name_error(BRANCHES, "model", 8)
    assert analysis.cause == NameCause.BRANCH_NOT_TAKEN
    assert analysis.diagnosis.startswith(
        "`model` is assigned on lines 4 and 6, inside the `if` on line 3 and the `elif` on line 5. For this run, "
        "both conditions were false, so neither branch ran, and there is no `else`; line 8 then finds no `model`."
    ), analysis.diagnosis
    assert "add an `else` branch that assigns it too" in analysis.fix
    assert "unconditionally" in analysis.fix
    # No placeholder before the block: `model = None` only moves the error to `None.fit`.
    assert "before the block" not in analysis.fix and "= None" not in analysis.fix
    assert "line 4, 6" not in analysis.summary


def test_three_branches_and_lists_of_lines_read_as_english() -> None:
    source = "if a:\n    m = 1\nelif b:\n    m = 2\nelif c:\n    m = 3\nprint(m)\n"
    analysis = analyze_name_error(source, "m", 7)
    assert "on lines 2, 4 and 6" in analysis.diagnosis
    assert "all 3 conditions were false, so none of the branches ran, and there is no `else`" in analysis.diagnosis


def test_a_try_that_raised_before_the_assignment() -> None:
    source = "try:\n    n = int('x')\n    m = n\nexcept ValueError:\n    print('bad')\nprint(m)\n"
    analysis = analyze_name_error(source, "m", 6)
    assert analysis.cause == NameCause.BRANCH_NOT_TAKEN
    assert "inside a `try` block" in analysis.diagnosis and "the `except` on line 4" in analysis.diagnosis
    assert "in the `except` branch too" in analysis.fix


SELF_OUTSIDE = (
    "import keras\n\nclass Trainer:\n    def __init__(self):\n        self.model = keras.Sequential()\n\n"
    "trainer = Trainer()\nself.model.fit([[1]], [1])\n"
)


def test_self_outside_its_class_names_the_object() -> None:
    analysis = analyze_name_error(SELF_OUTSIDE, "self", 8)
    assert analysis.cause == NameCause.LOCAL_SCOPE
    assert "`self` exists only inside the methods of `Trainer` (it is their first parameter" in analysis.diagnosis
    assert "out here the object is `trainer` (line 7)" in analysis.diagnosis
    assert "local to it" not in analysis.diagnosis and "Return it" not in analysis.fix
    assert analysis.fix == "Write `trainer` where you wrote `self` (`trainer.model.fit`)."


def test_self_outside_its_class_without_an_object_says_to_create_it() -> None:
    analysis = analyze_name_error(SELF_OUTSIDE.replace("trainer = Trainer()\n", ""), "self", 7)
    assert analysis.cause == NameCause.LOCAL_SCOPE
    assert "out here no object of `Trainer` exists yet" in analysis.diagnosis
    assert analysis.fix.startswith("Create the object first, for example `trainer = Trainer()`")


def test_names_an_import_binds_are_listed_as_english() -> None:
    two = analyze_name_error("from keras.layers import Dense, Input\nm = keras.Sequential()\n", "keras", 2)
    assert "binds only `Dense` and `Input`:" in two.diagnosis
    three = analyze_name_error("from keras.layers import Dense, Input, Flatten\nkeras.Sequential()\n", "keras", 2)
    assert "binds only `Dense`, `Input` and `Flatten`:" in three.diagnosis


def test_import_tensorflow_as_tf_is_named_when_keras_is_missing() -> None:
    source = (
        "import tensorflow as tf\nfrom keras.layers import Dense, Input\n\n\n"
        "(x, y), _ = keras.datasets.mnist.load_data()\n"
    )
    analysis = analyze_name_error(source, "keras", 5)
    assert analysis.cause == NameCause.NOT_IMPORTED
    assert "Line 2, `from keras.layers import Dense, Input`, binds only `Dense` and `Input`" in analysis.diagnosis
    assert "Line 1, `import tensorflow as tf`, binds only `tf`: through it, Keras is `tf.keras`" in analysis.diagnosis
    assert analysis.fix == (
        "Write `tf.keras` where you wrote `keras` (`tf.keras.datasets.mnist.load_data`), or add `import keras` at "
        "the top of the file."
    )
    assert analysis.suggestions[0] == "import keras"  # the import stays the mechanical fix


def test_a_lambda_global_is_told_from_the_traceback_too() -> None:
    traceback = (
        'File "load.py", line 3, in <module>\n    m = keras.saving.load_model(path, safe_mode=False)\n'
        'File ".../keras/src/layers/core/lambda_layer.py", line 193, in call\nNameError: name "max_len"'
    )
    source = "import keras\npath = 'm.keras'\nm = keras.saving.load_model(path, safe_mode=False)\n"
    analysis = analyze_name_error(source, "max_len", None, traceback_text=traceback)
    assert analysis.cause == NameCause.LAMBDA_GLOBAL
    assert "Define `max_len` in this script" in analysis.fix


def test_names_the_program_had_at_run_time_are_candidates() -> None:
    analysis = analyze_name_error("exec(code)\nprint(modell)\n", "modell", 2, runtime_names={"model": "Sequential"})
    assert analysis.cause == NameCause.MISSPELLED and analysis.suggestions[0] == "model"


def test_lines_can_be_named_in_cell_words() -> None:
    analysis = analyze_name_error(
        "model.fit()\nmodel = make()\n", "model", 1, describe_line=lambda n: f"cell {n // 10}, line {n % 10}"
    )
    assert "cell 0, line 2, which runs later" in analysis.diagnosis


def test_imports_follow_the_file_style_and_the_installed_keras() -> None:
    assert suggest_import("Dense").statement == "from keras.layers import Dense"
    assert suggest_import("layers").statement == "from keras import layers"
    assert suggest_import("mnist").statement == "from keras.datasets import mnist"
    assert suggest_import("load_model").statement == "from keras.models import load_model"
    assert suggest_import("my_own_thing") is None
    names = json.loads(NAMES_FILE.read_text())
    assert names["keras_version"] == "3.15.1"  # requirements.txt pins this Keras; regenerate after an upgrade


@pytest.mark.tf
def test_the_import_names_file_is_what_the_script_makes_from_the_installed_keras() -> None:
    """Generated, never a hand list: the file equals the generator's output for the installed Keras."""
    root = Path(__file__).resolve().parent.parent
    code = (
        "import json, sys; sys.path.insert(0, 'scripts'); import gen_import_names as g; "
        "print(json.dumps(g.build(), sort_keys=True))"
    )
    made = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300, check=True
    ).stdout
    assert json.loads(made.splitlines()[-1]) == json.loads(NAMES_FILE.read_text())
