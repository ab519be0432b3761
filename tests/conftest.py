"""Shared test setup: every test gets its own data/var folders only where it asks; the sandbox tests
use the project's dataset (built once, offline) so they do not rebuild it."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# No warm pool unless a test builds one: warm sandboxes of an app started inside a test (AppTest caches
# its run manager for the whole session) would outlive that test and show up in the others' checks.
os.environ.setdefault("TUTOR_POOL_SIZE", "0")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never write to the project's var/tutor.sqlite3: one throwaway progress database for the session
# (tests that need their own point TUTOR_DB_PATH at tmp_path).
if "TUTOR_DB_URL" not in os.environ:
    os.environ["TUTOR_DB_PATH"] = str(Path(tempfile.mkdtemp(prefix="tutor-test-db-")) / "tutor.sqlite3")
# Lesson proof results likewise; an app started by a test proves nothing in the background (a test that
# changes lesson files records the proofs it means, or proves in the studio).
os.environ.setdefault("TUTOR_PROOFS_PATH", str(Path(tempfile.mkdtemp(prefix="tutor-test-proofs-")) / "proofs.json"))
os.environ.setdefault("TUTOR_BACKGROUND_PROOFS", "0")
for _name in ("TUTOR_WORKSHOP_CODE", "TUTOR_TEACHER_PASSPHRASE", "TUTOR_TEACHERS"):
    os.environ.pop(_name, None)  # the developer's workshop settings must not change what tests see
