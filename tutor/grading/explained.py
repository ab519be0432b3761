"""The shape every error explanation shares (AttributeError, ModuleNotFoundError, a sandbox limit): a
diagnosis without the fix, the fix apart, and the summary that joins them, as one dict for the page and the
command line."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


class Explained:
    """Mixed into a dataclass with ``diagnosis`` and ``fix`` fields."""

    diagnosis: str
    fix: str

    @property
    def summary(self) -> str:
        return f"{self.diagnosis} {self.fix}".strip()

    def explained_dict(self, kind: str) -> dict[str, Any]:
        return {**asdict(self), "kind": kind, "summary": self.summary}  # type: ignore[call-overload]
