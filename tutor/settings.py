"""Settings from the environment, with defaults that fit a 2-core classroom machine.

Every setting has one env var (``TUTOR_*``) so a teacher can set it in a shell or a service file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def sandbox_level() -> str:
    """strict, basic or auto (default)."""
    return os.environ.get("TUTOR_SANDBOX", "auto")


def lessons_dir() -> Path:
    return Path(os.environ.get("TUTOR_LESSONS_DIR", PROJECT_ROOT / "lessons"))


def solutions_dir() -> Path:
    return Path(os.environ.get("TUTOR_SOLUTIONS_DIR", PROJECT_ROOT / "solutions"))


def var_dir() -> Path:
    path = Path(os.environ.get("TUTOR_VAR_DIR", PROJECT_ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Where each run's temporary folders live; only the server's user may list it."""
    path = Path(os.environ.get("TUTOR_RUNS_DIR", Path(tempfile.gettempdir()) / "tutor-runs"))
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o711)
    return path


def fixtures_dir() -> Path:
    path = var_dir() / "fixtures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pool_size() -> int:
    """How many warm sandboxes to keep ready (TUTOR_POOL_SIZE; 0 turns the pool off). The default, one
    per concurrent run on a 2-core machine, holds about 1.2 GiB."""
    return max(0, int(os.environ.get("TUTOR_POOL_SIZE", "2")))


def pool_memory_mb() -> int:
    """The most memory the idle warm sandboxes may hold together (TUTOR_POOL_MEMORY_MB)."""
    return max(0, int(os.environ.get("TUTOR_POOL_MEMORY_MB", "1536")))


def db_url() -> str:
    """TUTOR_DB_URL (any SQLAlchemy URL, e.g. postgresql+psycopg://...) or SQLite at TUTOR_DB_PATH."""
    configured = os.environ.get("TUTOR_DB_URL")
    if configured:
        return configured
    path = Path(os.environ.get("TUTOR_DB_PATH", var_dir() / "tutor.sqlite3"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def workshop_code() -> str | None:
    """When set, learners sign in with a display name and this code."""
    return os.environ.get("TUTOR_WORKSHOP_CODE") or None


def teacher_passphrase() -> str | None:
    """When set, the teacher page opens with this passphrase."""
    return os.environ.get("TUTOR_TEACHER_PASSPHRASE") or None


def teacher_identities() -> set[str]:
    """Emails (or OIDC subjects, or role names) of teachers signed in with st.login; comma-separated."""
    raw = os.environ.get("TUTOR_TEACHERS", "")
    return {item.strip().lower() for item in raw.split(",") if item.strip()}


# Code a learner may run: a lesson's program is a few KB; beyond this the browser's editor grows slow
# (2 MB froze a tab for minutes), so bigger code is refused with a message before it is sent or run.
MAX_CODE_BYTES = 200_000
