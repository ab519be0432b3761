"""A queue worker's sweeper: what dead workers left behind.

- Runs of workers that stopped sending heartbeats (SIGKILL, a lost host), found with procrastinate's
  stalled-job retrieval: each is retried once (procrastinate's retry, on the regular queue), then ended
  as interrupted (or cancelled, when the learner had pressed Stop). Every worker sweeps; two sweepers
  racing for one job are harmless (the loser's retry finds the job no longer running).
- What killed processes of this host left of their sandboxes: processes of a sandbox uid no live process
  holds, and their cgroups.
- The queue's finished jobs, after TUTOR_QUEUE_KEEP_JOBS_HOURS: a job row (and its events) only carried
  the run to a worker; the run's record stays in the runs table. Without this every run ever made keeps
  its job rows. Every worker prunes; deleting twice deletes nothing more.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import time

import procrastinate
from procrastinate import exceptions

from tutor import settings
from tutor.runs.contract import RunStatus, dead_after_s
from tutor.runs.queue.store import (
    MAX_ATTEMPTS,
    RUNS_QUEUE,
    TASK_NAME,
    forget_silent_workers,
    run_owner,
    settle_stalled_run,
)
from tutor.store.db import Database

log = logging.getLogger("tutor.runs.queue.worker")
RECLAIM_EVERY_S = 5.0  # how often a worker looks for what killed processes left of their sandboxes
PRUNE_EVERY_S = 600.0  # how often a worker deletes finished jobs older than TUTOR_QUEUE_KEEP_JOBS_HOURS


async def sweep_forever(app: procrastinate.App, db: Database, worker: str, heartbeat: float) -> None:
    """Every TUTOR_QUEUE_SWEEP_S: stalled runs, old jobs, silent workers' rows, orphaned sandboxes."""
    last_reclaim = 0.0
    last_prune = -PRUNE_EVERY_S  # the first sweep prunes too
    while True:
        await asyncio.sleep(settings.queue_sweep_s())
        try:
            await sweep_stalled(app, db, heartbeat)
        except Exception as exc:  # two sweepers raced, or the database blinked: the next sweep retries
            log.warning("sweep failed (%s)", exc)
        if time.monotonic() - last_prune > PRUNE_EVERY_S:
            last_prune = time.monotonic()
            try:
                await prune_finished_jobs(app, settings.queue_keep_jobs_hours())
            except Exception as exc:
                log.warning("finished jobs not pruned (%s)", exc)
        if time.monotonic() - last_reclaim > RECLAIM_EVERY_S:
            last_reclaim = time.monotonic()
            try:
                await asyncio.to_thread(forget_silent_workers, db)
            except Exception as exc:
                log.warning("silent workers not forgotten (%s)", exc)
            reclaimed = await asyncio.to_thread(reclaim_orphaned_sandboxes)
            if reclaimed:
                print(f"worker {worker}: removed what was left of sandbox uids {reclaimed}", flush=True)


async def prune_finished_jobs(app: procrastinate.App, keep_hours: int) -> None:
    """Delete the queue's jobs that ended (done, failed, cancelled, aborted) more than ``keep_hours`` ago;
    0 keeps them all."""
    if keep_hours <= 0:
        return
    await app.job_manager.delete_old_jobs(
        nb_hours=keep_hours, include_failed=True, include_cancelled=True, include_aborted=True
    )


def reclaim_orphaned_sandboxes() -> list[int]:
    """What a killed process (a worker or server of this host, SIGKILLed) left of its sandboxes: a sandbox
    uid whose host-wide lock no live process holds, yet still has processes or cgroups. Their processes
    are killed and the cgroups removed. (bwrap's --die-with-parent already ends a strict sandbox with its
    worker; this also covers level basic and the cgroups the kernel keeps.) Returns the uids cleaned."""
    from tutor.sandbox.cgroups import GROUP, RunCgroup
    from tutor.sandbox.isolation import UID_LOCK_DIR, UID_RANGE

    if os.geteuid() != 0 or not UID_LOCK_DIR.is_dir():
        return []
    processes = sandbox_processes(UID_RANGE)
    groups = set()
    for controller in ("memory", "pids"):
        try:
            names = os.listdir(settings.cgroup_root() / controller / GROUP)
        except OSError:
            continue
        groups |= {int(name[4:]) for name in names if name.startswith("run-") and name[4:].isdigit()}
    reclaimed = []
    for uid in sorted(set(processes) | groups):
        with open(UID_LOCK_DIR / str(uid), "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live sandbox holds it
            for pid in processes.get(uid, []):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if uid in groups:
                cgroup = RunCgroup(f"run-{uid}", 0, 0)
                cgroup.kill_all(timeout_s=1.0)
                cgroup.remove(timeout_s=1.0)
            reclaimed.append(uid)
    reclaim_fork_server_cgroups()
    return reclaimed


def reclaim_fork_server_cgroups() -> None:
    """A fork server's own cgroup (tutor.sandbox.forkserver) is named after the process that started it;
    once that process is gone (SIGKILLed), the server died with it and only the cgroup is left."""
    from tutor.sandbox.cgroups import GROUP, RunCgroup

    names = set()
    for controller in ("memory", "pids"):
        try:
            names |= {n for n in os.listdir(settings.cgroup_root() / controller / GROUP) if n.startswith("forkserver-")}
        except OSError:
            continue
    for name in sorted(names):
        owner = name.split("-")[1]
        if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
            cgroup = RunCgroup(name, 0, 0)
            cgroup.kill_all(timeout_s=1.0)
            cgroup.remove(timeout_s=1.0)


def sandbox_processes(uids: range) -> dict[int, list[int]]:
    """Live processes whose real uid is a sandbox uid, by uid."""
    from tutor.sandbox.isolation import processes_by_uid

    return processes_by_uid(uids)


async def sweep_stalled(app: procrastinate.App, db: Database, heartbeat: float) -> list[tuple[int, str]]:
    """Runs whose worker stopped sending heartbeats: retried once (procrastinate's retry, on the regular
    queue), else ended (interrupted, or cancelled when Stop was pressed). Returns (run id, what happened)."""
    settled = []
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=dead_after_s(heartbeat), task_name=TASK_NAME
    )
    for job in stalled:
        run_id = int(job.task_kwargs["run_id"])
        owner = await asyncio.to_thread(run_owner, db, run_id, heartbeat)
        status, attempts = (owner.status, owner.attempts) if owner else ("missing", 0)
        in_flight = status in (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
        if in_flight and owner is not None and owner.worker_alive and status == RunStatus.RUNNING.value:
            continue  # its worker lives (it reconnected under a new procrastinate id): not orphaned
        aborted = await job_abort_requested(app, job.id)
        if in_flight and attempts < MAX_ATTEMPTS and not aborted:
            try:
                await app.job_manager.retry_job(job, queue=RUNS_QUEUE)
            except exceptions.ConnectorException:
                continue  # another sweeper took it first
            what = await asyncio.to_thread(settle_stalled_run, db, run_id, True, False)
        else:
            try:
                await app.job_manager.finish_job(job, status=procrastinate.jobs.Status.FAILED, delete_job=False)
            except exceptions.ConnectorException:
                continue
            what = await asyncio.to_thread(settle_stalled_run, db, run_id, False, aborted)
        print(f"sweeper: run {run_id} of a stopped worker (attempt {attempts}): {what}", flush=True)
        settled.append((run_id, what))
    return settled


async def job_abort_requested(app: procrastinate.App, job_id: int | None) -> bool:
    row = await app.connector.execute_query_one_async(
        query="SELECT abort_requested FROM procrastinate_jobs WHERE id = %(job_id)s", job_id=job_id
    )
    return bool(row and row["abort_requested"])
