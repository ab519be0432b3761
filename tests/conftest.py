"""Shared test setup: every test gets its own data/var folders only where it asks; the sandbox tests
use the project's dataset (built once, offline) so they do not rebuild it."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
