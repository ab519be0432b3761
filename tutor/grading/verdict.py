"""The verdict: what grading says about one program, per case and check. It crosses processes and the
database as plain JSON (``to_dict``/``from_dict``, versioned), never pickle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tutor.checks.judge import CheckResult, CheckStatus
from tutor.sandbox.results import ErrorInfo, RunResult

# 2: checks have a status (not_reached); "attempt" and "empty". Added since, computed from the cases: error
# "cause", "caught" and "handler_line"; a case's "figures" and "figures_made".
VERDICT_VERSION = 2


class GraderError(Exception):
    """Grading could not happen (a broken fixture, no sandbox): never the learner's fault."""


@dataclass
class CaseVerdict:
    case: str
    title: str
    passed: bool
    checks: list[CheckResult]
    result: RunResult | None  # None: not run, because an earlier case showed the code cannot run

    def to_dict(self) -> dict[str, Any]:
        result = self.result
        return {
            "id": self.case,
            "title": self.title,
            "passed": self.passed,
            "checks": [check.to_dict() for check in self.checks],
            "termination": str(result.termination) if result else "not_run",
            "duration_s": result.duration_s if result else 0.0,
            "detail": result.detail if result else "not run: the code cannot run at all",
            # What the figures are, without their images (those are in the result, as base64 PNG).
            "figures": [
                {key: getattr(figure, key) for key in ("index", "how", "width", "height", "bytes")}
                for figure in (result.figures if result else [])
            ],
            "figures_made": result.figures_made if result else 0,
            "result": result.to_dict() if result else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseVerdict:
        result = data.get("result")
        return cls(
            data["id"], data["title"], bool(data["passed"]), [CheckResult.from_dict(check) for check in data["checks"]],
            RunResult.from_dict(result) if result else None,
        )  # fmt: skip


@dataclass
class Verdict:
    lesson: str
    passed: bool
    cases: list[CaseVerdict]
    grader_error: str | None = None
    checks: list[CheckResult] = field(default_factory=list)  # every case's checks, in order
    attempt: bool = True  # False: the unchanged starter was run (it shows what happens; it is no attempt)
    empty: bool = False  # the editor was empty: nothing ran, no check

    @property
    def headline(self) -> CheckResult | None:
        """The first failing check: what the verdict leads with (the rest follow from it or wait for it)."""
        return next((check for check in self.checks if check.status is CheckStatus.FAILED), None)

    def count(self, status: CheckStatus) -> int:
        return sum(1 for check in self.checks if check.status is status)

    @property
    def first_error(self) -> dict[str, Any] | None:
        """The first case's uncaught error; when no case has one, the first NameError a case's own ``except``
        caught (``"caught": True``, ``"handler_line"``: that ``except``'s line). One shape for both."""
        for case in self.cases:
            error = case.result.error if case.result else None
            if error is not None:
                return {
                    "type": error.type,
                    "name": error.name,
                    "line": error.line,
                    "message": error.message,
                    "case": case.case,
                    "cause": error_cause(error),
                    "caught": False,
                    "handler_line": None,
                }
        for case in self.cases:
            caught = next(iter(case.result.caught), None) if case.result else None
            if caught is not None:
                return {
                    "type": caught.type,
                    "name": caught.name,
                    "line": caught.line,
                    "message": caught.message,
                    "case": case.case,
                    "cause": (caught.analysis or {}).get("cause") or None,
                    "caught": True,
                    "handler_line": caught.handler_line,
                }
        return None

    @property
    def dataset(self) -> str | None:
        return next((case.result.dataset for case in self.cases if case.result and case.result.dataset), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERDICT_VERSION,
            "lesson": self.lesson,
            "passed": self.passed,
            "checks": [check.to_dict() for check in self.checks],
            "error": self.first_error,
            "dataset": self.dataset,
            "grader_error": self.grader_error,
            "attempt": self.attempt,
            "empty": self.empty,
            "cases": [case.to_dict() for case in self.cases],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """The inverse of ``to_dict`` (a verdict that crossed the queue); a wrong version raises."""
        if data.get("version") != VERDICT_VERSION:
            raise ValueError(f"verdict version {data.get('version')!r}, expected {VERDICT_VERSION}")
        return cls(
            data["lesson"], bool(data["passed"]), [CaseVerdict.from_dict(case) for case in data["cases"]],
            data.get("grader_error"), [CheckResult.from_dict(check) for check in data["checks"]],
            attempt=bool(data.get("attempt", True)), empty=bool(data.get("empty", False)),
        )  # fmt: skip


def error_cause(error: ErrorInfo) -> str | None:
    """Why the error happened, as a word of a vocabulary, when the source told: a NameError's
    tutor.lessons.causes.NameCause, an AttributeError's tutor.grading.attribute_error.AttributeCause."""
    analysis = error.analysis or {}
    return (analysis.get("cause") if error.is_name_error else analysis.get("kind")) or None
