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


def use_sandbox_level(level: str) -> None:
    """A command line's --sandbox: set for this process and the processes it starts."""
    os.environ["TUTOR_SANDBOX"] = level


def lessons_dir() -> Path:
    return Path(os.environ.get("TUTOR_LESSONS_DIR", PROJECT_ROOT / "lessons"))


def solutions_dir() -> Path:
    return Path(os.environ.get("TUTOR_SOLUTIONS_DIR", PROJECT_ROOT / "solutions"))


def data_dir() -> Path:
    """The folder holding the provisioned dataset files (TUTOR_DATA_DIR, else <project>/var/data)."""
    path = Path(os.environ.get("TUTOR_DATA_DIR") or PROJECT_ROOT / "var" / "data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def cgroup_root() -> Path:
    """Where the cgroup controllers are mounted (TUTOR_CGROUP_ROOT; a test may point it elsewhere)."""
    return Path(os.environ.get("TUTOR_CGROUP_ROOT", "/sys/fs/cgroup"))


def max_runs() -> int:
    """TUTOR_MAX_RUNS, else one run per core (2 on a 2-core machine: a quick NameError verdict need not
    wait for a 20-second training to finish)."""
    configured = os.environ.get("TUTOR_MAX_RUNS")
    if configured:
        return max(1, int(configured))
    return max(1, os.cpu_count() or 1)


def tf_threads() -> int:
    """TensorFlow's intra-op and inter-op thread pools in each sandbox (TUTOR_TF_THREADS), by default the
    cores shared out among the runs at once: on 2 cores with two runs, one each. Two trainings at once with
    TensorFlow's default (as many threads as cores, each) took 10.1 s, with one thread each 6.9 s; one
    training alone took 6.2 s and 5.9 s (bench/bench_threads.py, bench/README.md)."""
    configured = os.environ.get("TUTOR_TF_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, (os.cpu_count() or 1) // max_runs())


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
    per concurrent run on a 2-core machine, holds about 2.2 GiB (see pool_prefault_mb)."""
    return max(0, int(os.environ.get("TUTOR_POOL_SIZE", "2")))


def fork_server() -> str:
    """TUTOR_FORK_SERVER: ``auto`` (default) serves runs from a fork server where it can (root, strict
    sandbox, cgroups: tutor/sandbox/forkserver.py), else from warm sandboxes; ``off`` always the latter."""
    value = os.environ.get("TUTOR_FORK_SERVER", "auto").strip().lower()
    if value not in ("auto", "off"):
        raise ValueError(f"TUTOR_FORK_SERVER={value!r}: use auto or off")
    return value


def pool_memory_mb() -> int:
    """The most memory the idle warm sandboxes may hold together (TUTOR_POOL_MEMORY_MB)."""
    return max(0, int(os.environ.get("TUTOR_POOL_MEMORY_MB", "2560")))


def pool_prefault_mb() -> int:
    """Memory each warm sandbox touches ahead for the learner's arrays (TUTOR_POOL_PREFAULT_MB; 0: none).
    The lessons' MNIST as float32 needs ~0.45 GB; on a VM that hands fresh memory out slowly this is most
    of a warm run (tutor.sandbox.harness.prefault_heap). A warm sandbox then holds ~1.1 GiB instead of ~0.6."""
    return max(0, int(os.environ.get("TUTOR_POOL_PREFAULT_MB", "512")))


def kernel_idle_s() -> float:
    """A notebook kernel idle this long is shut down and its memory freed (TUTOR_KERNEL_IDLE_S, default 15
    minutes); the learner's page says so, as Colab does, and the next Run starts a fresh kernel."""
    return max(5.0, float(os.environ.get("TUTOR_KERNEL_IDLE_S", "900")))


def kernels_max() -> int:
    """The most notebook kernels this host keeps at once (TUTOR_KERNELS_MAX). A kernel with TensorFlow
    imported holds about what a warm sandbox holds (~0.6 GiB before the learner's arrays); past the cap, the
    kernel idle the longest is shut down to make room."""
    return max(1, int(os.environ.get("TUTOR_KERNELS_MAX", "8")))


def kernel_cell_s() -> float:
    """The wall-clock limit for one notebook cell (TUTOR_KERNEL_CELL_S); a lesson's own time_s wins."""
    return max(1.0, float(os.environ.get("TUTOR_KERNEL_CELL_S", "120")))


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


def proofs_path() -> Path:
    """Where lesson proof results are kept (hash → passed, when, details): TUTOR_PROOFS_PATH."""
    return Path(os.environ.get("TUTOR_PROOFS_PATH", var_dir() / "proofs.json"))


def background_proofs() -> bool:
    """Prove changed lesson files in the background (TUTOR_BACKGROUND_PROOFS=0 turns it off: a changed
    lesson then goes live once `python -m tutor check-lessons` or the studio proved it)."""
    return os.environ.get("TUTOR_BACKGROUND_PROOFS", "1").strip().lower() not in ("0", "false", "no", "off")


def oidc_provider() -> str | None:
    """TUTOR_OIDC_PROVIDER names the st.login provider when secrets.toml configures several."""
    return os.environ.get("TUTOR_OIDC_PROVIDER") or None


# Code a learner may run: a lesson's program is a few KB; beyond this the browser's editor grows slow
# (2 MB froze a tab for minutes), so bigger code is refused with a message before it is sent or run.
MAX_CODE_BYTES = 200_000


# Runs past one machine (issue 10) ------------------------------------------------------------------------

RUN_MODES = ("local", "queue")


class SettingsError(ValueError):
    """A setting has a value the app cannot work with; the message names the setting."""


def runs_mode() -> str:
    """TUTOR_RUNS: ``local`` (default: runs in this server process) or ``queue`` (a PostgreSQL job queue
    that ``python -m tutor worker`` processes on any number of hosts)."""
    mode = os.environ.get("TUTOR_RUNS", "local").strip().lower() or "local"
    if mode not in RUN_MODES:
        raise SettingsError(f"TUTOR_RUNS={mode!r}: use 'local' (default) or 'queue'")
    return mode


def queue_db_url() -> str:
    """The PostgreSQL URL queue mode needs (TUTOR_DB_URL); a clear error naming both settings otherwise."""
    url = os.environ.get("TUTOR_DB_URL", "")
    if not url.startswith(("postgresql", "postgres")):
        shown = repr(url) if url else "not set"
        raise SettingsError(
            "TUTOR_RUNS=queue needs TUTOR_DB_URL to name a PostgreSQL database, e.g. "
            f"postgresql+psycopg://tutor@db-host/tutor (TUTOR_DB_URL is {shown})"
        )
    return url


def worker_name() -> str | None:
    """TUTOR_WORKER_NAME: how a worker names itself on the teacher page (default: host:pid)."""
    return os.environ.get("TUTOR_WORKER_NAME") or None


def worker_heartbeat_s() -> float:
    """TUTOR_WORKER_HEARTBEAT_S: how often a worker says it is alive (default 5 s). A worker silent for
    three of these is taken for dead: its runs go to another worker."""
    return max(0.5, float(os.environ.get("TUTOR_WORKER_HEARTBEAT_S", "5")))


def queue_sweep_s() -> float:
    """TUTOR_QUEUE_SWEEP_S: how often a worker looks for runs of dead workers (default 2 s)."""
    return max(0.2, float(os.environ.get("TUTOR_QUEUE_SWEEP_S", "2")))


def queue_keep_jobs_hours() -> int:
    """TUTOR_QUEUE_KEEP_JOBS_HOURS: how long the queue keeps a finished job's row (default 24; 0: forever).
    The run's own record (code, verdict, times) stays in the runs table either way."""
    return max(0, int(os.environ.get("TUTOR_QUEUE_KEEP_JOBS_HOURS", "24")))
