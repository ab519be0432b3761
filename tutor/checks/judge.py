"""Running checks: a lesson's CheckSpec against a run result, by the function its kind registered
(tutor.checks.kinds.CHECK_KINDS), with the lesson's message template filled in from the facts.

A check is passed, failed, or not reached: the program stopped before the point it checks (a
SyntaxError, a time limit, an earlier error), which is the reason, not a failure of its own. A second
check failing on the error an earlier one already reported is marked ``same_error`` and says only that.
"""

from __future__ import annotations

import enum
import string
from dataclasses import dataclass
from typing import Any

from tutor.checks.kinds import CHECK_KINDS, CheckSpec, check_title
from tutor.checks.stops import SOURCE_ERRORS, STOPPED, stop_reason
from tutor.sandbox.results import RunResult

__all__ = [
    "SAME_ERROR",
    "SOURCE_ERRORS",
    "STOPPED",
    "CheckResult",
    "CheckStatus",
    "run_check",
    "run_checks",
    "stop_reason",
]

SAME_ERROR = "Failed on the same {type} (line {line})."  # a second check failing on one error says only this


class CheckStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_REACHED = "not_reached"  # the program stopped before this could be judged: not a failure of its own


@dataclass
class CheckResult:
    id: str
    passed: bool
    message: str
    case: str = "default"
    status: CheckStatus | None = None  # None: from ``passed`` (failed, unless told "not reached")
    same_error: bool = False  # failed on the error an earlier check of the case already reported

    def __post_init__(self) -> None:
        if self.status is None:
            self.status = CheckStatus.PASSED if self.passed else CheckStatus.FAILED
        self.status = CheckStatus(self.status)
        self.passed = self.status is CheckStatus.PASSED

    @property
    def title(self) -> str:
        return check_title(self.id)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "passed": self.passed, "message": self.message, "case": self.case,
                "status": str(self.status), "same_error": self.same_error}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(str(data["id"]), bool(data["passed"]), str(data["message"]), str(data.get("case", "default")),
                   CheckStatus(data["status"]) if data.get("status") is not None else None,
                   bool(data.get("same_error", False)))  # fmt: skip


def run_check(spec: CheckSpec, result: RunResult, model_name: str, case: str = "default") -> CheckResult:
    kind = CHECK_KINDS[spec.kind]
    params = {**kind.defaults, **spec.params}
    finding = kind.function(result, params, model_name)
    if not finding.reached:  # the reason the program stopped, said once for all such checks
        return CheckResult(spec.kind, False, finding.message, case, CheckStatus.NOT_REACHED)
    template = spec.passed_message if finding.passed else spec.message
    message = finding.message
    if template and finding.judged:
        # The facts every path gives (tutor.checks.kinds); a lesson's templates were validated against them.
        facts = {**params, "default": finding.message, "model_name": model_name, **finding.facts}
        message = string.Formatter().vformat(template, (), _Facts(facts))
    return CheckResult(spec.kind, finding.passed, message, case)


def run_checks(
    specs: tuple[CheckSpec, ...], result: RunResult, model_name: str, case: str = "default"
) -> list[CheckResult]:
    """Every check of a case. A second check failing on the error an earlier one already reported says only
    that (one bug, one explanation), and is marked ``same_error``."""
    checks = [run_check(spec, result, model_name, case) for spec in specs]
    error = result.error
    if error is None:
        return checks
    reported = False
    for check in checks:
        if check.status is not CheckStatus.FAILED or not CHECK_KINDS[check.id].reports_error:
            continue
        if check.id == "no_name_error" and not error.is_name_error:
            continue  # it failed on a NameError the program caught itself, not on this error
        if reported:
            check.message = SAME_ERROR.format(type=error.type, line=error.line)
            check.same_error = True
        reported = True
    return checks


class _Facts(dict):
    """A template from a loaded lesson never misses a fact (validated at load); one made by hand in
    code may, and then the placeholder stays visible instead of crashing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
