"""Why the run's error happened, from the learner's source: a NameError's missing name (where it is
assigned, if anywhere: tutor.grading.name_error) and the AttributeError one step after it
(tutor.grading.attribute_error); and, from the error alone, a module the sandbox lacks
(tutor.grading.module_error) or one of the sandbox's limits met inside the program (tutor.grading.limit_error).
Teaching work: the sandbox only runs and reports; grading diagnoses."""

from __future__ import annotations

from tutor.grading.attribute_error import explain_attribute_error
from tutor.grading.limit_error import explain_limit_error
from tutor.grading.module_error import explain_module_error
from tutor.grading.name_error import analyze_name_error
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import RunResult


def diagnose_result(result: RunResult, source: str | bytes, limits: Limits | None = None) -> None:
    """Fill ``result.error.analysis`` (diagnosis, fix, summary) when the source explains the error, and the
    analysis of each NameError the program's own ``except`` caught (``result.caught``): hidden, it still has
    the cause an uncaught one would have. ``limits``: the run's, for the sizes a limit's explanation names
    (None: the defaults, which every caller but the time limit keeps)."""
    text = source if isinstance(source, str) else source.decode("utf-8", "replace")
    for caught in result.caught:
        if caught.name:
            unbound_local = caught.type == "UnboundLocalError"
            analysis = analyze_name_error(text, caught.name, caught.line, caught.function, unbound_local)
            caught.analysis = analysis.to_dict()
    error = result.error
    if error is None:
        return
    if error.is_name_error and error.name:
        unbound_local = error.type == "UnboundLocalError"
        error.analysis = analyze_name_error(text, error.name, error.line, error.function, unbound_local).to_dict()
    elif error.type == "AttributeError":
        explained = explain_attribute_error(text, error.line, error.message)
        error.analysis = explained.to_dict() if explained else None
    elif error.type == "ModuleNotFoundError":
        missing = explain_module_error(error.message)
        error.analysis = missing.to_dict() if missing else None
    else:
        limited = explain_limit_error(error, limits or Limits(), result.isolation)
        error.analysis = limited.to_dict() if limited else None
