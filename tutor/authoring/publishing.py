"""Proved before published: learners only ever get a version of a lesson whose proofs passed.

A lesson version is its content hash (tutor.lessons.files.content_hash: the TOML, starter, solution and
fixture files). The ``LessonLibrary`` loads the lesson files whenever they change, and for each lesson:

- a version proved before (``ProofStore``, var/proofs.json, keyed by hash + Keras version) or shipped
  with the app (lessons/shipped.json, proved by CI) is live at once;
- any other version is proved in the background — the same proofs as ``python -m tutor check-lessons``,
  in the sandbox, one lesson and one sandbox at a time, at a low CPU priority, waiting while learners'
  runs queue — and learners keep the last proved version until the new one passes.

Progress is stored under the lesson id, which every version shares. This module never imports Streamlit.
"""

from __future__ import annotations

import collections
import enum
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tutor import settings
from tutor.authoring.proofs import Proof, prove_lessons
from tutor.lessons.files import content_hash, draft_of, write_draft
from tutor.lessons.fixtures import keras_version
from tutor.lessons.lesson import Lesson, LessonError, LessonSet, lesson_rank, load_lesson, load_lessons

SHIPPED_MANIFEST = "shipped.json"
BACKGROUND_NICE = 10  # proofs yield the CPU to learners' runs
log = logging.getLogger(__name__)

Reporter = Callable[[Proof], None]
Prover = Callable[[Lesson, Reporter], list[Proof]]


class ProofState(enum.StrEnum):
    SHIPPED = "shipped"  # unchanged since the app shipped it (CI proved it)
    PROVED = "proved"
    WAITING = "waiting"  # a new version waits for its turn to be proved
    PROVING = "proving"
    FAILED = "failed"  # the newest version failed a proof; learners keep the last proved one
    BROKEN = "broken"  # the file does not load (schema error); learners keep the last proved one


@dataclass(frozen=True)
class ProofRecord:
    lesson: str
    passed: bool
    at: str  # ISO 8601, UTC
    proofs: tuple[tuple[str, bool, str], ...]  # (item, passed, detail)

    @property
    def failures(self) -> list[tuple[str, str]]:
        return [(item, detail) for item, passed, detail in self.proofs if not passed]


def proof_key(digest: str) -> str:
    """A proof holds for one lesson version on one Keras version (claims are about the installed Keras)."""
    return f"{digest}:keras-{keras_version()}"


def prove_lesson(lesson: Lesson, report: Reporter) -> list[Proof]:
    """check-lessons' proofs of one lesson, one sandbox at a time."""
    return prove_lessons([lesson], jobs=1, report=report)


def count_proofs(lesson: Lesson) -> int:
    """How many proofs ``prove_lesson`` runs (for progress bars)."""
    from tutor.authoring.proofs import generated_files

    return len(generated_files(lesson)) + 3 + len(lesson.wrong) + len(lesson.claims)  # 3: text, solution, starter


def lower_priority() -> None:
    """Proofs yield the CPU to learners' runs: on Linux a thread has its own nice value, and the sandboxes
    it starts inherit it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (OSError, AttributeError):
        pass


class ProofStore:
    """hash → proof result, in one JSON file written atomically, so a restart does not re-prove."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings.proofs_path()
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data.get("proofs", {}) if isinstance(data, dict) else {}

    def mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def get(self, key: str) -> ProofRecord | None:
        with self._lock:
            raw = self._read().get(key)
        if not isinstance(raw, dict):
            return None
        proofs = tuple((str(p[0]), bool(p[1]), str(p[2])) for p in raw.get("proofs", []))
        return ProofRecord(str(raw.get("lesson", "")), bool(raw.get("passed")), str(raw.get("at", "")), proofs)

    def record(self, key: str, lesson_id: str, proofs: list[Proof]) -> ProofRecord:
        record = ProofRecord(
            lesson_id,
            bool(proofs) and all(p.passed for p in proofs),
            datetime.now(UTC).isoformat(timespec="seconds"),
            tuple((p.item, p.passed, p.detail) for p in proofs),
        )
        with self._lock:
            data = self._read()  # re-read: another process (a second server) may have written meanwhile
            data[key] = {"lesson": lesson_id, "passed": record.passed, "at": record.at,
                         "proofs": [list(p) for p in record.proofs]}  # fmt: skip
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            temp.write_text(json.dumps({"version": 1, "proofs": data}, indent=1), encoding="utf-8")
            os.replace(temp, self.path)
        return record


def read_shipped(lessons_dir: Path) -> set[str]:
    """Content hashes of the lessons shipped with the app (``python -m tutor ship-lessons`` writes them)."""
    try:
        data = json.loads((lessons_dir / SHIPPED_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {str(digest) for digest in data.get("lessons", {}).values()} if isinstance(data, dict) else set()


def write_shipped(lessons: list[Lesson], lessons_dir: Path) -> Path:
    path = lessons_dir / SHIPPED_MANIFEST
    hashes = {lesson.id: content_hash(lesson) for lesson in sorted(lessons, key=lambda lesson: lesson.id)}
    manifest = {"about": "content hashes of the lessons shipped with the app, proved by CI", "lessons": hashes}
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass
class LessonStatus:
    """What the teacher page shows for one lesson id."""

    id: str
    state: ProofState
    live_hash: str | None = None  # what learners get (None: nothing proved yet, learners do not see it)
    live_state: ProofState | None = None  # SHIPPED or PROVED
    live_at: str | None = None
    newest_hash: str | None = None  # what the files say now
    done: int = 0  # proofs finished of the newest version (while proving)
    total: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (proof, detail) of the newest version
    error: LessonError | None = None


@dataclass
class _Live:
    lesson: Lesson
    digest: str
    state: ProofState
    at: str | None


class LessonLibrary:
    """The proved versions learners see, and the proofs of new ones in one background thread."""

    def __init__(
        self,
        lessons_dir: Path | None = None,
        solutions_dir: Path | None = None,
        store: ProofStore | None = None,
        prove: Prover = prove_lesson,
        busy: Callable[[], bool] = lambda: False,
        shipped: set[str] | None = None,
        background: bool = True,
    ) -> None:
        self.lessons_dir = lessons_dir or settings.lessons_dir()
        self.solutions_dir = solutions_dir or settings.solutions_dir()
        self.store = store or ProofStore()
        self.versions_dir = self.store.path.parent / "lesson-versions"
        self._prove = prove
        self._busy = busy
        self._shipped = read_shipped(self.lessons_dir) if shipped is None else shipped
        self._lock = threading.Condition()
        self._live: dict[str, _Live] = {}
        self._status: dict[str, LessonStatus] = {}
        self._pending: dict[str, tuple[Lesson, str]] = {}  # id → newest version waiting for proofs
        self._queue: collections.deque[str] = collections.deque()
        self._errors: list[LessonError] = []
        self._fingerprint: object = None
        self._proving: str | None = None
        self._closed = False
        self.background = background
        if background:
            threading.Thread(target=self._work, name="lesson-prover", daemon=True).start()

    # -- what learners and teachers see ---------------------------------------------------------------
    def sync(self, fingerprint: object) -> None:
        """Reload the files when ``fingerprint`` (their names, sizes and times) changed, or the proof store
        did (check-lessons or another server proved a version)."""
        fingerprint = (fingerprint, self.store.mtime())
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self.refresh()

    def lesson_set(self) -> LessonSet:
        """The live (proved) version of each lesson, and the files that do not load."""
        with self._lock:
            lessons = [live.lesson for live in self._live.values()]
            errors = list(self._errors)
        lessons.sort(key=lesson_rank)
        return LessonSet(lessons, errors)

    def statuses(self) -> list[LessonStatus]:
        with self._lock:
            return [self._status[key] for key in sorted(self._status)]

    def status(self, lesson_id: str) -> LessonStatus | None:
        with self._lock:
            return self._status.get(lesson_id)

    # -- loading -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        loaded = load_lessons(self.lessons_dir, self.solutions_dir)
        self._shipped |= read_shipped(self.lessons_dir)
        versions = {lesson.id: (lesson, content_hash(lesson)) for lesson in loaded.lessons}
        broken = {error.path.stem: error for error in loaded.errors}
        with self._lock:
            self._errors = loaded.errors
            for gone in set(self._status) - set(versions) - set(broken):  # file removed: lesson withdrawn
                self._status.pop(gone)
                self._live.pop(gone, None)
                self._pending.pop(gone, None)
            for lesson_id, error in broken.items():
                status = self._status.setdefault(lesson_id, LessonStatus(lesson_id, ProofState.BROKEN))
                status.state, status.error, status.newest_hash = ProofState.BROKEN, error, None
                self._pending.pop(lesson_id, None)
            for lesson, digest in versions.values():
                self._consider(lesson, digest)
            for lesson_id in (set(versions) | set(broken)) - set(self._live):
                kept = self._last_kept(lesson_id)
                if kept is not None:
                    status = self._status[lesson_id]
                    newest = (status.newest_hash, status.state, status.failures)
                    self._publish(*kept)
                    status.newest_hash, status.state, status.failures = newest
            self._lock.notify_all()

    def _consider(self, lesson: Lesson, digest: str) -> None:
        """Decide what to do with the newest version of a lesson (under the lock)."""
        status = self._status.setdefault(lesson.id, LessonStatus(lesson.id, ProofState.WAITING))
        status.error = None
        live = self._live.get(lesson.id)
        if live is not None and live.digest == digest:
            live.lesson = lesson  # same content, reloaded: nothing to prove
            status.newest_hash, status.state = digest, live.state
            self._pending.pop(lesson.id, None)
            return
        queued = status.newest_hash == digest and status.state in (ProofState.WAITING, ProofState.PROVING)
        if queued and status.state is ProofState.PROVING:
            return  # its proofs are running
        status.newest_hash = digest
        record = self.store.get(proof_key(digest))
        if digest in self._shipped or (record is not None and record.passed):
            state = ProofState.SHIPPED if digest in self._shipped and record is None else ProofState.PROVED
            self._publish(lesson, digest, state, record.at if record else None)
            self._pending.pop(lesson.id, None)
            return
        if record is not None:  # proved before and failed: no need to prove it again
            status.state, status.failures = ProofState.FAILED, record.failures
            self._pending.pop(lesson.id, None)
            return
        if queued:
            return  # waiting for its turn already
        status.state, status.done, status.total, status.failures = ProofState.WAITING, 0, count_proofs(lesson), []
        self._pending[lesson.id] = (lesson, digest)
        if self.background and lesson.id not in self._queue:
            self._queue.append(lesson.id)

    def _publish(self, lesson: Lesson, digest: str, state: ProofState, at: str | None) -> None:
        lesson = self._keep_version(lesson, digest)
        self._live[lesson.id] = _Live(lesson, digest, state, at)
        status = self._status.setdefault(lesson.id, LessonStatus(lesson.id, state))
        status.state, status.failures = state, []
        status.live_hash, status.live_state, status.live_at = digest, state, at

    # -- proved versions, kept -----------------------------------------------------------------------
    def _keep_version(self, lesson: Lesson, digest: str) -> Lesson:
        """Learners are served a copy of each proved version (var/lesson-versions/<id>/<hash>): a later
        edit of a fixture or code file cannot change it, and after a restart a lesson whose newest file is
        unproved or broken is still served as last proved."""
        folder = self.versions_dir / lesson.id / digest
        try:
            if not (folder / "published").is_file():
                staging = folder.with_name(f".{digest}.{os.getpid()}.{threading.get_ident()}")
                write_draft(draft_of(lesson), staging)
                (staging / "published").touch()
                try:
                    staging.rename(folder)
                except OSError:  # another server kept it first
                    shutil.rmtree(staging, ignore_errors=True)
            (folder / "published").touch()  # its mtime: when this version was last made live
            kept = load_lesson(folder / "lessons" / f"{lesson.id}.toml", folder / "solutions")
        except (OSError, LessonError):
            log.exception("keeping version %s of %s failed; serving the files as they are", digest, lesson.id)
            return lesson
        return kept

    def _last_kept(self, lesson_id: str) -> tuple[Lesson, str, ProofState, str | None] | None:
        """The most recently live proved version of a lesson, from an earlier run of the app."""
        markers = sorted(
            (self.versions_dir / lesson_id).glob("*/published"), key=lambda path: path.stat().st_mtime, reverse=True
        )
        for marker in markers:
            digest = marker.parent.name
            record = self.store.get(proof_key(digest))
            if digest not in self._shipped and not (record is not None and record.passed):
                continue
            try:
                lesson = load_lesson(marker.parent / "lessons" / f"{lesson_id}.toml", marker.parent / "solutions")
            except LessonError:
                continue
            state = ProofState.PROVED if record is not None else ProofState.SHIPPED
            return lesson, digest, state, record.at if record else None
        return None

    # -- the background prover -----------------------------------------------------------------------
    def _work(self) -> None:
        lower_priority()
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                lesson_id = self._queue.popleft()
                pending = self._pending.get(lesson_id)
                if pending is None:
                    continue
                lesson, digest = pending
                self._proving = lesson_id
                self._status[lesson_id].state = ProofState.PROVING
            try:
                self._prove_one(lesson, digest)
            except Exception:  # never let one lesson stop the prover
                log.exception("proving %s failed", lesson_id)
            finally:
                with self._lock:
                    self._proving = None
                    self._lock.notify_all()

    def _prove_one(self, lesson: Lesson, digest: str) -> None:
        def report(proof: Proof) -> None:
            with self._lock:
                pending = self._pending.get(lesson.id)
                if pending is not None and pending[1] == digest:
                    self._status[lesson.id].done += 1
            self._wait_for_learners()

        self._wait_for_learners()
        proofs = self._prove(lesson, report)
        record = self.store.record(proof_key(digest), lesson.id, proofs)
        with self._lock:
            pending = self._pending.get(lesson.id)
            if pending is None or pending[1] != digest:
                return  # a newer version arrived meanwhile (it is queued); this result stays in the store
            self._pending.pop(lesson.id)
            if record.passed:
                self._publish(lesson, digest, ProofState.PROVED, record.at)
            else:
                status = self._status[lesson.id]
                status.state, status.failures = ProofState.FAILED, record.failures

    def _wait_for_learners(self) -> None:
        """Learners first: no proof starts while learners' runs wait for a sandbox."""
        while not self._closed:
            try:
                if not self._busy():
                    return
            except Exception:
                return
            time.sleep(0.5)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Tests and the CLI: wait until nothing is waiting or being proved."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._proving is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
