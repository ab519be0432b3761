"""What binds a name that was never imported: the installed Keras's public API (import_names.json, generated
by scripts/gen_import_names.py, never a hand list), the short names the community gives modules (`K`, `tf`,
`np`: conventions, listed here because no API holds them) and Python's standard library. And why an import
the file already has (``from keras.layers import Dense``) does not bind the name it was believed to bind.

Read without importing Keras: the Streamlit server and the grader never import TensorFlow.
"""

from __future__ import annotations

import ast
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

NAMES_FILE = Path(__file__).with_name("import_names.json")

# Short names by convention: (the module they stand for, the import that binds them).
CONVENTIONS: dict[str, tuple[str, str]] = {
    "K": ("keras.backend", "from keras import backend as K"),
    "keras": ("keras", "import keras"),
    "tf": ("tensorflow", "import tensorflow as tf"),
    "tensorflow": ("tensorflow", "import tensorflow"),
    "np": ("numpy", "import numpy as np"),
    "numpy": ("numpy", "import numpy"),
    "pd": ("pandas", "import pandas as pd"),
    "plt": ("matplotlib.pyplot", "import matplotlib.pyplot as plt"),
    "sns": ("seaborn", "import seaborn as sns"),
    "cv2": ("cv2", "import cv2"),
    "tfds": ("tensorflow_datasets", "import tensorflow_datasets as tfds"),
    "hub": ("tensorflow_hub", "import tensorflow_hub as hub"),
    "torch": ("torch", "import torch"),
    "sklearn": ("sklearn", "import sklearn"),
    "Image": ("PIL.Image", "from PIL import Image"),
    # what notebooks bind by themselves, missing in a script made from one
    "get_ipython": ("IPython", "from IPython import get_ipython"),
    "display": ("IPython.display", "from IPython.display import display"),
    # names the usual companions of a Keras script export, imported by name
    "tqdm": ("tqdm", "from tqdm import tqdm"),
    "train_test_split": ("sklearn.model_selection", "from sklearn.model_selection import train_test_split"),
    "StandardScaler": ("sklearn.preprocessing", "from sklearn.preprocessing import StandardScaler"),
    "MinMaxScaler": ("sklearn.preprocessing", "from sklearn.preprocessing import MinMaxScaler"),
    "LabelEncoder": ("sklearn.preprocessing", "from sklearn.preprocessing import LabelEncoder"),
    "confusion_matrix": ("sklearn.metrics", "from sklearn.metrics import confusion_matrix"),
    "classification_report": ("sklearn.metrics", "from sklearn.metrics import classification_report"),
    "accuracy_score": ("sklearn.metrics", "from sklearn.metrics import accuracy_score"),
    "reduce": ("functools", "from functools import reduce"),
    "partial": ("functools", "from functools import partial"),
    "defaultdict": ("collections", "from collections import defaultdict"),
    "Counter": ("collections", "from collections import Counter"),
    "Path": ("pathlib", "from pathlib import Path"),
}

# Python 2's names, in old code people still copy: what Python 3 calls them.
PYTHON2_NAMES: dict[str, str] = {
    "xrange": "range", "raw_input": "input", "unicode": "str", "basestring": "str", "long": "int",
    "unichr": "chr", "file": "open", "izip": "zip", "imap": "map", "ifilter": "filter",
}  # fmt: skip


@dataclass(frozen=True)
class ImportHint:
    name: str
    module: str  # the module the name stands for or comes from: keras.backend, keras.layers, os
    statement: str  # the import that binds it, in the file's own style (keras or tensorflow.keras)
    kind: str  # module, class, function


@dataclass(frozen=True)
class MisleadingImport:
    """An import already in the file that mentions the name's module but does not bind the name."""

    line: int
    text: str  # the statement as written: `from keras.layers import Dense`
    binds: tuple[str, ...]  # what it binds instead


@functools.cache
def _names_file() -> dict:
    try:
        return json.loads(NAMES_FILE.read_text())
    except (OSError, ValueError):
        return {}


def keras_names() -> dict[str, dict]:
    """The installed Keras's public names: name -> {"from": module, "kind": ..., ["attributes": [...]]}."""
    return _names_file().get("names", {})


def keras_top_level() -> set[str]:
    """What ``from keras import *`` binds."""
    return set(_names_file().get("top_level", []))


def uses_tf_keras(tree: ast.AST) -> bool:
    """True when the file reaches Keras through TensorFlow (``tensorflow.keras`` or ``tf.keras``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith("tensorflow.keras") or (module == "tensorflow" and "keras" in _imported(node)):
                return True
        if isinstance(node, ast.Import) and any(a.name.startswith("tensorflow.keras") for a in node.names):
            return True
        is_attribute = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        if is_attribute and node.attr == "keras" and node.value.id in ("tf", "tensorflow"):
            return True
    return False


def _imported(node: ast.ImportFrom) -> set[str]:
    return {alias.name for alias in node.names}


def suggest_import(name: str, tree: ast.AST | None = None) -> ImportHint | None:
    """The import that binds ``name``, or None when it is no known module or API name."""
    tf_style = tree is not None and uses_tf_keras(tree)

    def styled(text: str) -> str:
        if not tf_style or " keras" not in text or "tensorflow" in text:
            return text
        text = text.replace("from keras", "from tensorflow.keras")
        return text.replace("import keras", "from tensorflow import keras")

    if name in CONVENTIONS:
        module, statement = CONVENTIONS[name]
        return ImportHint(name, module, styled(statement), "module")
    entry = keras_names().get(name)
    if entry is not None:
        # A module stands for itself (`layers` is keras.layers); a class or function for the module it is in.
        module = f"{entry['from']}.{name}" if entry["kind"] == "module" else entry["from"]
        return ImportHint(name, module, styled(f"from {entry['from']} import {name}"), entry["kind"])
    if name in sys.stdlib_module_names and not name.startswith("_"):
        return ImportHint(name, name, f"import {name}", "module")
    return None


def module_attributes(name: str) -> set[str] | None:
    """The public names of the Keras module ``name`` stands for (``layers``, ``models``, ``K``), if known."""
    module = CONVENTIONS.get(name, (None,))[0]
    if module is not None and module.startswith("keras."):
        entry = keras_names().get(module.rsplit(".", 1)[1])
    else:
        entry = keras_names().get(name)
    if entry is None or entry.get("kind") != "module":
        return None
    return set(entry.get("attributes") or [])


def find_misleading_import(name: str, hint: ImportHint, tree: ast.AST, source: str) -> MisleadingImport | None:
    """An import in the file that names ``hint.module`` (or a module under it) but binds other names:
    ``from keras.layers import Dense`` does not bind ``keras``; ``from keras.backend import clear_session``
    does not bind ``K``; ``from keras import backend`` binds ``backend``, not ``K``."""
    module = hint.module
    for variant in dict.fromkeys((module, "tensorflow." + module if module.startswith("keras") else module)):
        for node in ast.walk(tree):
            found = None
            if isinstance(node, ast.ImportFrom) and node.module:
                parent, _, last = variant.rpartition(".")
                under = node.module == variant or node.module.startswith(variant + ".")
                if under or (parent and node.module == parent and any(a.name == last for a in node.names)):
                    found = node
            elif isinstance(node, ast.Import) and hint.kind == "module":
                renamed = [a for a in node.names if a.name == variant and (a.asname or a.name.split(".")[0]) != name]
                found = node if renamed else None
            if found is not None:
                binds = tuple(a.asname or a.name.split(".")[0] for a in found.names)
                if name in binds:
                    continue
                text = ast.get_source_segment(source, found) or ""
                return MisleadingImport(found.lineno, " ".join(text.split()), binds)
    return None
