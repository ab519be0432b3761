"""Why ``import cv2`` failed: a ModuleNotFoundError names a module the sandbox lacks, and a bare "No module
named 'cv2'" does not tell a learner what they *can* import. The explanation names the module and lists what
the sandbox offers (tutor.sandbox.packages, the one list), in the same dict shape as the other explanations
(``summary``, ``diagnosis`` without the fix, ``fix`` alone), so the page and the command line show it."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from tutor.grading.explained import Explained
from tutor.sandbox.packages import describe_offered, is_standard_library, offered_import_names

MESSAGE = re.compile(r"^No module named '([\w.]+)'")


@dataclass(frozen=True)
class ModuleExplanation(Explained):
    module: str  # as the error names it: ``cv2``, ``sklearn.nothing``
    diagnosis: str
    fix: str

    def to_dict(self) -> dict:
        return self.explained_dict("missing-module")


def explain_module_error(message: str) -> ModuleExplanation | None:
    """An explanation of ``ModuleNotFoundError: <message>``, or None when the message names no module."""
    match = MESSAGE.match(message or "")
    if match is None:
        return None
    module = match.group(1)
    top_level = module.split(".")[0]
    if top_level in offered_import_names() or is_standard_library(top_level):
        # The package is here; the part after the dot is not (a misspelt submodule, or one from another
        # version of the package).
        return ModuleExplanation(
            module,
            f"`{top_level}` is available in this sandbox, but it has no module `{module}`.",
            f"Check the spelling of `{module}` against the documentation of `{top_level}`.",
        )
    diagnosis = f"`{top_level}` is not installed in this sandbox. It offers: {describe_offered()}."
    close = difflib.get_close_matches(top_level, sorted(offered_import_names()), n=1, cutoff=0.75)
    if close:
        fix = f"Did you mean `{close[0]}`? Check the spelling in your `import`."
    else:
        fix = f"Do the work with one of those instead of `{top_level}`."
    return ModuleExplanation(module, diagnosis, fix)
