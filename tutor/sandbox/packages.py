"""The third-party packages a learner's program may import in the sandbox, listed once: the message for a
module the sandbox lacks (tutor.grading.module_error) and `python -m tutor doctor` both read this list.

The sandbox runs the server's own venv (isolation.python_roots binds it read-only), so "offered" means
"installed in this venv": requirements.txt pins them. Versions are read from the installed metadata, never by
importing the packages (importing TensorFlow takes seconds and hundreds of MiB).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version


@dataclass(frozen=True)
class OfferedPackage:
    name: str  # as learners and pip know it
    import_name: str  # what a program imports
    distributions: tuple[str, ...]  # installed under one of these (tensorflow comes as tensorflow-cpu here)

    def installed_version(self) -> str | None:
        for distribution in self.distributions:
            try:
                return version(distribution)
            except PackageNotFoundError:
                continue
        return None


OFFERED: tuple[OfferedPackage, ...] = (
    OfferedPackage("tensorflow", "tensorflow", ("tensorflow-cpu", "tensorflow")),
    OfferedPackage("keras", "keras", ("keras",)),
    OfferedPackage("numpy", "numpy", ("numpy",)),
    OfferedPackage("pandas", "pandas", ("pandas",)),
    OfferedPackage("scikit-learn", "sklearn", ("scikit-learn",)),
    OfferedPackage("matplotlib", "matplotlib", ("matplotlib",)),
    OfferedPackage("scipy", "scipy", ("scipy",)),
    OfferedPackage("pillow", "PIL", ("pillow",)),
)


def offered_import_names() -> set[str]:
    return {package.import_name for package in OFFERED}


def describe_offered() -> str:
    """The list a learner reads: names as pip knows them, with the import name where it differs."""
    names = [
        package.name if package.name == package.import_name else f"{package.name} (import {package.import_name})"
        for package in OFFERED
    ]
    return f"{', '.join(names)}, and Python's standard library"


def is_standard_library(top_level: str) -> bool:
    return top_level in sys.stdlib_module_names
