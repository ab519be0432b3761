"""Limits that need root: the per-run memory and pids cgroups, and host-wide sandbox uids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_runner import ESCAPEE, escapee_marker, processes_with
from tests.waiting import wait_for
from tutor.sandbox import cgroups, isolation
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import Termination
from tutor.sandbox.runner import RunRequest, run_program

ROOT = Path(__file__).resolve().parent.parent
# Promised capabilities (tests/conftest.py): without them these tests fail, unless TUTOR_TEST_CGROUPS=skip
# (TUTOR_TEST_BWRAP=skip for bubblewrap) skips them.
with_cgroups = pytest.mark.needs("cgroups")  # root, with cgroup v1 memory and pids controllers
as_root = pytest.mark.needs("root")  # sandbox uids are only used as root

# Fills the home tmpfs: RLIMIT_DATA does not see tmpfs pages, the memory cgroup does.
FILL_TMPFS = """
import json
import os
for n in range(5):
    with open(f"/home/learner/fill{n}.bin" if os.path.isdir("/home/learner") else f"fill{n}.bin", "wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
print("wrote 250 MiB")
"""


def record_created_groups(monkeypatch: pytest.MonkeyPatch) -> list[cgroups.RunCgroup]:
    """The cgroups this process creates (other servers and test runs on the machine create theirs)."""
    created: list[cgroups.RunCgroup] = []
    create = cgroups.RunCgroup.create

    def recording_create(self: cgroups.RunCgroup) -> None:
        created.append(self)
        create(self)

    monkeypatch.setattr(cgroups.RunCgroup, "create", recording_create)
    return created


@with_cgroups
def test_memory_cgroup_stops_what_rlimit_data_cannot_see(monkeypatch: pytest.MonkeyPatch) -> None:
    created = record_created_groups(monkeypatch)
    limits = Limits(wall_s=30, memory_mb=160, disk_mb=256)
    result = run_program(RunRequest(FILL_TMPFS, limits=limits))
    assert result.termination is Termination.MEMORY_LIMIT
    assert result.detail == "Your program ran out of memory (limit 160 MiB), so it was stopped."
    assert "wrote 250 MiB" not in result.stdout
    assert len(created) == 1  # the run had its cgroups ...
    assert not created[0].memory_dir.exists() and not created[0].pids_dir.exists()  # ... gone with it


@with_cgroups
def test_the_same_program_passes_under_a_roomy_limit() -> None:
    """The control: the program itself is fine; only the small limit stopped it above."""
    result = run_program(RunRequest(FILL_TMPFS, limits=Limits(wall_s=30, memory_mb=1024, disk_mb=300)))
    assert result.termination is Termination.FINISHED, result.detail
    assert result.stdout == "wrote 250 MiB\n"


@with_cgroups
def test_process_limit_is_named_even_where_rlimit_nproc_is_not_enforced() -> None:
    """At level basic the server's root uid runs the code, and RLIMIT_NPROC does not bind root."""
    source = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_program(RunRequest(source, level="basic", limits=Limits(wall_s=3, processes=40)))
    assert result.termination is Termination.TIMEOUT
    assert "started too many processes or threads (limit 40)" in result.detail


@with_cgroups
def test_double_fork_escapee_dies_with_the_run_at_level_basic() -> None:
    marker = escapee_marker()
    result = run_program(RunRequest(ESCAPEE.format(marker=marker), level="basic"))
    assert result.stdout.strip() == "parent done"  # the escapee was running when the program ended
    gone = wait_for(lambda: not processes_with(marker))  # killed with the run's cgroup, then off /proc
    survivors = processes_with(marker)
    for pid in survivors:
        os.kill(pid, 9)
    assert gone and survivors == []


@as_root
def test_two_processes_never_share_a_sandbox_uid() -> None:
    """A second server (or a test run beside the app) claims uids of its own: the lock is host-wide."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom tutor.sandbox.isolation import claim_uid\n"
            "claims = [claim_uid() for _ in range(5)]\n"
            "print(' '.join(str(c.uid) for c in claims), flush=True)\ntime.sleep(30)\n",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        theirs = {int(uid) for uid in holder.stdout.readline().split()}
        assert len(theirs) == 5
        ours = []
        try:
            with pytest.raises(isolation.IsolationError, match="all 1000 sandbox uids are in use"):
                for _ in range(len(isolation.UID_RANGE)):  # until the range is exhausted
                    ours.append(isolation.claim_uid())
            assert theirs.isdisjoint(claim.uid for claim in ours)
            assert len({claim.uid for claim in ours}) == len(ours)
            # Every uid but theirs (and any a concurrent sandbox is running as right now) was ours to take.
            assert 900 <= len(ours) <= len(isolation.UID_RANGE) - 5
        finally:
            for claim in ours:
                claim.release()
    finally:
        holder.kill()
        holder.wait()
    again = isolation.claim_uid()  # free again once released
    again.release()
    assert again.uid in isolation.UID_RANGE


# Runs inside a network namespace this test makes itself: 198.18.0.1 (a benchmark-range address) is put
# on its loopback, so no packet can leave the machine, yet to code outside the sandbox it is an ordinary
# non-loopback address with a server on it.
OUTSIDE_PROBE = """
import json, socket, sys
from tutor.sandbox.runner import RunRequest, run_program
server = socket.socket()
server.bind(("198.18.0.1", 0))
server.listen()
server.settimeout(0.5)
port = server.getsockname()[1]
control = socket.create_connection(("198.18.0.1", port), timeout=2)
server.accept()[0].close()
control.close()
source = (
    "import socket\\n"
    "try:\\n"
    f"    socket.create_connection(('198.18.0.1', {port}), timeout=3)\\n"
    "    print('connected')\\n"
    "except OSError as exc:\\n"
    "    print('refused:', exc)\\n"
)
result = run_program(RunRequest(source, level="strict"))
try:
    server.accept()
    accepted = True
except TimeoutError:
    accepted = False
print(json.dumps({"control": "ok", "sandbox": result.stdout.strip(), "accepted": accepted}))
"""


@as_root
@pytest.mark.needs("bubblewrap")
def test_an_address_the_server_can_reach_is_unreachable_from_the_sandbox() -> None:
    setup = 'ip link set lo up && ip addr add 198.18.0.1/32 dev lo && exec "$0" -c "$1"'
    completed = subprocess.run(
        ["unshare", "--net", "--fork", "sh", "-c", setup, sys.executable, OUTSIDE_PROBE],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["control"] == "ok"  # outside the sandbox, the address answers
    assert report["sandbox"].startswith("refused:"), report
    assert "unreachable" in report["sandbox"].lower()
    assert report["accepted"] is False
