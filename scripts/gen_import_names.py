"""Write tutor/grading/import_names.json from the installed Keras's own public API.

What binds `Dense`, `layers`, `mnist`, `load_model`...: each public name of `keras` and its public
submodules, with the module to import it from. The explanation of a never-imported name reads this file
(the Streamlit server and the grader never import Keras). Regenerate after upgrading Keras:

    .venv/bin/python scripts/gen_import_names.py

tests/test_import_names.py fails when the file no longer matches the installed Keras.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "tutor" / "grading" / "import_names.json"

# Submodules whose public names are searched, most familiar first: a name exported by several (Model in
# keras and keras.models) is taught with the first.
PREFERRED = [
    "keras.layers", "keras.models", "keras", "keras.callbacks", "keras.optimizers", "keras.losses",
    "keras.metrics", "keras.backend", "keras.utils", "keras.datasets", "keras.preprocessing",
    "keras.preprocessing.image", "keras.preprocessing.sequence", "keras.applications", "keras.initializers",
    "keras.regularizers", "keras.constraints", "keras.activations", "keras.saving", "keras.ops",
    "keras.optimizers.schedules", "keras.mixed_precision", "keras.random",
]  # fmt: skip
# Lower-case functions are kept only from these modules: elsewhere (keras.ops.mean, keras.activations.relu,
# keras.losses.mse) a lower-case name is as likely the learner's own variable as something to import.
FUNCTIONS_FROM = {"keras.models", "keras.utils", "keras.backend", "keras.preprocessing", "keras.layers",
                  "keras.preprocessing.image", "keras.preprocessing.sequence", "keras.saving"}  # fmt: skip
GENERIC = {"get", "serialize", "deserialize", "version", "device", "config", "legacy", "normalize", "src"}


def public_names(module: types.ModuleType) -> list[str]:
    return sorted(name for name in dir(module) if not name.startswith("_"))


def collect() -> dict[str, dict[str, object]]:
    import keras

    names: dict[str, dict[str, object]] = {}
    for module_path in PREFERRED:
        module = sys.modules.get(module_path) or _resolve(keras, module_path)
        if module is None:
            continue
        for name in public_names(module):
            if name in names or name in GENERIC:
                continue
            value = getattr(module, name)
            if isinstance(value, types.ModuleType):
                kind = "module"
                if not value.__name__.startswith("keras"):
                    continue
            elif isinstance(value, type):
                kind = "class"
            elif callable(value):
                if name[:1].islower() and module_path not in FUNCTIONS_FROM:
                    continue
                kind = "function"
            else:
                continue
            entry: dict[str, object] = {"from": module_path, "kind": kind}
            if kind == "module":  # what it offers, to tell `models.fit` (a typo) from `models.load_model`
                entry["attributes"] = public_names(value)
            names[name] = entry
    return names


def _resolve(keras, dotted: str):
    value = keras
    for part in dotted.split(".")[1:]:
        value = getattr(value, part, None)
    return value if isinstance(value, types.ModuleType) else None


def build() -> dict[str, object]:
    import keras

    return {"keras_version": keras.__version__, "names": collect(), "top_level": public_names(keras)}


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    OUTPUT.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
