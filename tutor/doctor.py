"""`python -m tutor doctor`: what a teacher runs before class. Checks Python, TensorFlow, the packages the
sandbox offers, the dataset, the sandbox level and limits, then does a tiny real training run through the
sandbox."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from tutor import settings
from tutor.sandbox.dataset import DataError, ensure_dataset
from tutor.sandbox.isolation import IsolationError, Level, Limits, resolve_level
from tutor.sandbox.packages import OFFERED
from tutor.sandbox.pool import estimate_sandbox_mb
from tutor.sandbox.runner import RunRequest, run_program

TINY_FIT = """
import numpy as np
from tensorflow import keras

x = np.random.default_rng(0).random((256, 8)).astype("float32")
y = (x.sum(axis=1) > 4).astype("int32")
model = keras.Sequential([keras.layers.Input(shape=(8,)), keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=2, verbose=0)
(x_train, _), _ = keras.datasets.mnist.load_data()
print("mnist", x_train.shape)
"""


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str
    warning: bool = False


def run_doctor() -> list[Finding]:
    findings = [Finding("python", True, platform.python_version())]
    for package in ("tensorflow-cpu", "tensorflow", "keras", "streamlit"):
        try:
            findings.append(Finding(package, True, version(package)))
        except PackageNotFoundError:
            if package not in ("tensorflow-cpu", "tensorflow"):
                findings.append(Finding(package, False, "not installed: run scripts/setup.sh"))
    findings.append(check_sandbox_packages())
    try:
        dataset = ensure_dataset()
        findings.append(Finding("dataset", True, dataset.description, warning=str(dataset.kind) != "real"))
    except DataError as exc:
        findings.append(Finding("dataset", False, str(exc)))
    try:
        level = resolve_level(settings.sandbox_level())
        words = "bubblewrap isolation" if level is Level.STRICT else "process limits only (no isolation)"
        findings.append(Finding("sandbox", True, f"{level}: {words}", warning=level is Level.BASIC))
    except IsolationError as exc:
        findings.append(Finding("sandbox", False, str(exc)))
    if findings[-1].name == "sandbox" and findings[-1].ok and not findings[-1].warning:
        from tutor.sandbox.seccomp import compiled_filter

        has_filter = compiled_filter() is not None
        words = "syscall filter active" if has_filter else "libseccomp unavailable: runs without the syscall filter"
        findings.append(Finding("seccomp", True, words, warning=not has_filter))
    limits = Limits()
    findings.append(
        Finding(
            "limits",
            True,
            f"{limits.wall_s:g} s, {limits.memory_mb} MiB memory, {limits.processes} processes, "
            f"{limits.output_kb} KiB output, {limits.file_size_mb} MiB per file, {limits.disk_mb} MiB working "
            f"folder, {limits.shm_mb} MiB /dev/shm",
        )
    )
    findings.append(check_pool_settings())
    findings.append(check_fork_server())
    if all(f.ok for f in findings):
        started = time.monotonic()
        result = run_program(RunRequest(TINY_FIT, limits=Limits(wall_s=120)))
        fit = result.last_fit
        ok = result.error is None and fit is not None and fit.completed and "mnist (60000, 28, 28)" in result.stdout
        detail = f"trained 2 epochs and loaded MNIST in {time.monotonic() - started:.1f} s ({result.isolation})"
        if not ok:
            detail = f"failed: {result.detail or (result.error and result.error.message) or result.stderr[-500:]}"
        findings.append(Finding("test run", ok, detail))
        findings.append(check_kernel(limits))
    return findings + check_queue()  # after the test run: a worker host is checked before its worker starts


def check_kernel(limits: Limits) -> Finding:
    """A notebook kernel (ipykernel in the sandbox, over IPC sockets) starts and answers a cell."""
    from tutor.kernels.process import KernelProcess, KernelStartError

    started = time.monotonic()
    try:
        kernel = KernelProcess.start(resolve_level(settings.sandbox_level()), limits, ensure_dataset())
    except (KernelStartError, OSError, IsolationError, DataError) as exc:
        return Finding("notebook kernel", False, f"could not start: {exc} (notebook lessons cannot run)")
    try:
        run = kernel.execute("doctor", "print(40 + 2)", limits)
    finally:
        kernel.close()
    if run.stream_text() != "42\n":
        return Finding("notebook kernel", False, f"started but did not run a cell: {run.status} {run.note}")
    return Finding("notebook kernel", True, f"started and ran a cell in {time.monotonic() - started:.1f} s")


def check_sandbox_packages() -> Finding:
    """What a learner's program may import (tutor.sandbox.packages): the sandbox runs this venv, so a package
    missing here is one the learners are told they have. A warning, not a failure: the test run needs none."""
    found = [(package, package.installed_version()) for package in OFFERED]
    listed = ", ".join(f"{package.name} {installed}" for package, installed in found if installed)
    missing = [package.name for package, installed in found if installed is None]
    if missing:
        words = f"{listed}; missing {', '.join(missing)}: run scripts/setup.sh"
        return Finding("sandbox offers", True, words, warning=True)
    return Finding("sandbox offers", True, listed)


def check_queue() -> list[Finding]:
    """Queue mode (TUTOR_RUNS=queue): the settings, both schemas applied, workers alive."""
    try:
        if settings.runs_mode() != "queue":
            return [Finding("runs", True, "local: this server runs them (TUTOR_RUNS=local)")]
        url = settings.queue_db_url()
    except settings.SettingsError as exc:
        return [Finding("runs", False, str(exc))]
    from tutor.runs.queue.schema import describe_queue_schema, read_queue_schema
    from tutor.runs.queue.store import list_workers, queue_counts
    from tutor.store.db import open_database
    from tutor.store.migrations import current_revision, head_revision

    try:
        db = open_database(url)  # applies the app's migrations, as a server or worker start does
    except Exception as exc:
        return [Finding("queue", False, f"cannot open the database {url.split('@')[-1]}: {exc}")]
    try:
        findings = [Finding("runs", True, f"queue on {db.url.split('@')[-1]} (TUTOR_RUNS=queue)")]
        revision, head = current_revision(db.engine), head_revision()
        findings.append(Finding("schema", revision == head, f"app schema at {revision} (newest {head})"))
        schema = read_queue_schema(db)
        findings.append(Finding("queue schema", *describe_queue_schema(schema)))
        if schema.created:
            heartbeat = settings.worker_heartbeat_s()
            workers = list_workers(db, heartbeat)
            alive = [w for w in workers if w.alive]
            counts = queue_counts(db, heartbeat)
            detail = (
                f"{len(alive)} alive ({', '.join(f'{w.name} on {w.host}' for w in alive)}), "
                f"{counts['max_running']} runs at once; {counts['queued']} queued, {counts['running']} running"
                if alive
                else "no worker alive: start `python -m tutor worker` (scripts/worker.sh) on a worker host"
            )
            findings.append(Finding("workers", bool(alive), detail))
        return findings
    finally:
        db.dispose()


def format_findings(findings: list[Finding]) -> str:
    lines = []
    for finding in findings:
        mark = "FAIL" if not finding.ok else "warn" if finding.warning else "ok"
        lines.append(f"{mark:<5} {finding.name:<15} {finding.detail}")
    return "\n".join(lines)


def check_fork_server() -> Finding:
    """Whether runs are forked from a fork server (tutor.sandbox.forkserver) or taken from warm sandboxes."""
    from tutor.sandbox.forkserver import fork_server_possible
    from tutor.sandbox.isolation import IsolationError, resolve_level

    if not settings.pool_size():
        return Finding("fork server", True, "off with the warm pool")
    if settings.fork_server() == "off":
        return Finding("fork server", True, "off (TUTOR_FORK_SERVER=off): warm sandboxes, each importing TensorFlow")
    try:
        possible = fork_server_possible(resolve_level(settings.sandbox_level()))
    except IsolationError:
        possible = False
    if possible:
        return Finding("fork server", True, "on: TensorFlow imported once, each run forked into a sandbox of its own")
    return Finding(
        "fork server", True, "not here (needs root, the strict sandbox and cgroups): warm sandboxes instead",
        warning=True,
    )  # fmt: skip


def check_pool_settings() -> Finding:
    """The warm pool's settings: a budget below what one warm sandbox holds would keep none warm."""
    size, budget, prefault = settings.pool_size(), settings.pool_memory_mb(), settings.pool_prefault_mb()
    if not size:
        return Finding("warm pool", True, "off (every run starts cold)")
    one = estimate_sandbox_mb(prefault)
    words = (
        f"{size} sandboxes with TensorFlow imported and {prefault} MiB touched ahead for the program's arrays, "
        f"at most {budget} MiB together (~{one:.0f} MiB each)"
    )
    if budget < one:
        return Finding(
            "warm pool", False, f"{words}: room for none. Raise TUTOR_POOL_MEMORY_MB or lower TUTOR_POOL_PREFAULT_MB."
        )
    return Finding("warm pool", True, words)
