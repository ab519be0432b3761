"""The vocabulary of causes: why a name was missing when Python raised NameError (or UnboundLocalError).

Defined once here and used by the analysis (tutor.grading.name_error), ``grade --json``'s ``error.cause``,
``explain --json``, the teacher page's "where learners are stuck" and the explain counts. The README lists
the same words for people.
"""

from __future__ import annotations

import enum


class NameCause(enum.StrEnum):
    NOT_IMPORTED = "not-imported"  # a module or API name (K, keras, Model, layers...) never imported
    MISSPELLED = "misspelled"  # the object exists under another spelling or name (model1, self.model)
    NEVER_ASSIGNED = "never-assigned"  # nothing anywhere creates it
    DISCARDED_RESULT = "discarded-result"  # build_model() called, its result not kept
    COMPARED_NOT_ASSIGNED = "compared-not-assigned"  # model == build_model() as a statement
    LOCAL_SCOPE = "local-scope"  # assigned only inside a function (or shadowed by a local there)
    USED_BEFORE_ASSIGNED = "used-before-assigned"  # assigned, but on a line that runs later
    BRANCH_NOT_TAKEN = "branch-not-taken"  # assigned only inside an if/try/loop that did not run
    DELETED = "deleted"  # ``del model`` before the use
    LOAD_FAILED = "load-failed"  # load_model(...) failed and the error was swallowed
    LAMBDA_GLOBAL = "lambda-global"  # a Lambda layer's function needs a global the loading script lacks
    NOTEBOOK_ORDER = "notebook-order"  # the cell that creates it did not run (in this order, or at all)
    OTHER_MODULE = "other-module"  # made in another module of the project, which this one never brings in

    @property
    def label(self) -> str:
        """A few words for the teacher's "where learners are stuck" table."""
        return CAUSE_LABELS[self]


CAUSE_LABELS: dict[NameCause, str] = {
    NameCause.NOT_IMPORTED: "never imported",
    NameCause.MISSPELLED: "exists under another name",
    NameCause.NEVER_ASSIGNED: "never created",
    NameCause.DISCARDED_RESULT: "result of the call not kept",
    NameCause.COMPARED_NOT_ASSIGNED: "compared (==) instead of assigned (=)",
    NameCause.LOCAL_SCOPE: "local to a function",
    NameCause.USED_BEFORE_ASSIGNED: "used before the line that assigns it",
    NameCause.BRANCH_NOT_TAKEN: "assigned only in a branch that did not run",
    NameCause.DELETED: "deleted with del",
    NameCause.LOAD_FAILED: "loading failed, the error swallowed",
    NameCause.LAMBDA_GLOBAL: "a Lambda layer's global, missing at load_model",
    NameCause.NOTEBOOK_ORDER: "notebook cells run out of order or not run",
    NameCause.OTHER_MODULE: "made in another module, not imported from it",
}

# How often people meet each cause, most often first: the order of the public threads about this NameError
# that we read (kept as a hidden test set), as issue 21 reports it. A name never imported leads by far
# (`K`, `keras`, `Model`, `layers`); then the object under another name; a notebook's cells run out of order
# or after a restart; a result not kept; ... The lesson overview is ordered by it (a lesson's `cause`).
CAUSES_BY_FREQUENCY: tuple[NameCause, ...] = (
    NameCause.NOT_IMPORTED,
    NameCause.MISSPELLED,
    NameCause.NOTEBOOK_ORDER,
    NameCause.DISCARDED_RESULT,
    NameCause.BRANCH_NOT_TAKEN,
    NameCause.LOCAL_SCOPE,
    NameCause.USED_BEFORE_ASSIGNED,
    NameCause.OTHER_MODULE,
    NameCause.LOAD_FAILED,
    NameCause.NEVER_ASSIGNED,
    NameCause.COMPARED_NOT_ASSIGNED,
    NameCause.LAMBDA_GLOBAL,
    NameCause.DELETED,
)


def frequency_rank(cause: NameCause | None) -> int:
    """0 for the cause people meet most often; causes not ranked (or none) after every ranked one."""
    return CAUSES_BY_FREQUENCY.index(cause) if cause in CAUSES_BY_FREQUENCY else len(CAUSES_BY_FREQUENCY)


def cause_label(value: str | None) -> str | None:
    """The label of a stored cause value, or None for an unknown or missing one (untrusted data)."""
    try:
        return NameCause(value).label if value else None
    except ValueError:
        return None
