"""Every TUTOR_* setting is read in tutor/settings.py and nowhere else (one definition per contract)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "app.py", *sorted((ROOT / "tutor").rglob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]
SOURCES += sorted((ROOT / "app_pages").glob("*.py"))


def environment_uses(path: Path) -> list[str]:
    """Where a module touches os.environ or os.getenv."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_settings_reads_the_environment() -> None:
    # The harness (and kernel_boot, which it loads to become a notebook kernel) runs inside the sandbox and
    # reads or sets the sandbox's own clean environment (KERAS_HOME, MPLBACKEND).
    allowed = {"tutor/settings.py", "tutor/sandbox/harness.py", "tutor/sandbox/kernel_boot.py"}
    offenders = [use for path in SOURCES for use in environment_uses(path) if use.split(":")[0] not in allowed]
    assert offenders == []
    assert "TUTOR_" not in (ROOT / "tutor" / "sandbox" / "harness.py").read_text()
    assert "TUTOR_" not in (ROOT / "tutor" / "sandbox" / "kernel_boot.py").read_text()
