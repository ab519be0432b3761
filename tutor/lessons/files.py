"""A lesson as files: its content hash, drafts a teacher edits (in the studio or from a pack), and
publishing a draft into the lessons folders — atomically, under a lock, only if the draft's proofs
passed and nobody published another version since the teacher opened it.

Layout (the same in a draft folder, a pack and the app's folders): ``lessons/<id>.toml``,
``lessons/<id>.py`` (starter), ``solutions/<id>.py``, and fixture files under ``lessons/`` that the TOML
names (``copy``/``generate``, relative to the TOML).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tutor import settings
from tutor.lessons.lesson import Lesson, LessonError, load_lesson

_publish_lock = threading.Lock()


class PublishError(Exception):
    """The draft was not published; the message says why and what to do."""


def fixture_files(lesson: Lesson) -> dict[str, Path]:
    """The files a lesson copies or generates from, by their path relative to the lesson's folder."""
    base = lesson.path.parent.resolve() if lesson.path else Path.cwd()
    files = [f for case in lesson.cases for f in case.files] + [f for claim in lesson.claims for f in claim.files]
    found: dict[str, Path] = {}
    for item in files:
        for path in (item.copy, item.generate):
            if path is not None:
                try:
                    name = path.resolve().relative_to(base).as_posix()
                except ValueError:  # outside the lessons folder: known by its name only
                    name = f"(outside)/{path.name}"
                found[name] = path
    return found


def content_hash(lesson: Lesson) -> str:
    """One lesson version: the TOML as written, starter, solution and fixture files (not their paths). The
    one lesson hash: proofs are kept by it, and a queue worker grades a run only for the lesson whose hash
    the app sent. A lesson built in code (no TOML) is hashed by what it holds."""
    digest = hashlib.sha256()

    def add(name: str, data: bytes) -> None:
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)

    add("toml", lesson.path.read_bytes() if lesson.path else _described(lesson))
    add("starter", lesson.starter.encode())
    add("solution", lesson.solution.encode())
    for name, path in sorted(fixture_files(lesson).items()):
        try:
            add(f"fixture:{name}", path.read_bytes())
        except OSError:
            add(f"fixture:{name}", b"(missing)")
    return digest.hexdigest()


def _described(value: object, key: str = "") -> bytes:
    """What a lesson built in code holds (checks, cases, texts), as canonical JSON (paths left out)."""

    def plain(item: Any, name: str = "") -> Any:
        if name == "path":
            return None  # where a file lies differs between hosts; its content is what counts
        if is_dataclass(item) and not isinstance(item, type):
            return {f.name: plain(getattr(item, f.name), f.name) for f in fields(item)}
        if hasattr(item, "model_dump"):
            return plain(item.model_dump())
        if isinstance(item, dict):
            return {str(k): plain(v, str(k)) for k, v in sorted(item.items(), key=lambda pair: str(pair[0]))}
        if isinstance(item, list | tuple):
            return [plain(entry) for entry in item]
        if isinstance(item, Path):
            return hashlib.sha256(item.read_bytes()).hexdigest() if item.is_file() else item.name
        if item is None or isinstance(item, bool | int | float | str):
            return item
        return str(item)

    return json.dumps(plain(value, key), sort_keys=True, default=str).encode()


@dataclass
class Draft:
    """A lesson being written: texts, plus fixture files (path under lessons/ → bytes)."""

    lesson_id: str
    toml: str
    starter: str
    solution: str
    fixtures: dict[str, bytes] = field(default_factory=dict)

    def file_names(self) -> tuple[str, str]:
        """The starter's and solution's file names (the TOML may name them; default <id>.py)."""
        try:
            data = tomllib.loads(self.toml)
        except tomllib.TOMLDecodeError:
            data = {}
        starter = data.get("starter_file") if isinstance(data.get("starter_file"), str) else None
        solution = data.get("solution_file") if isinstance(data.get("solution_file"), str) else None
        return safe_name(starter) or f"{self.lesson_id}.py", safe_name(solution) or f"{self.lesson_id}.py"

    def files(self) -> dict[str, bytes]:
        """Every file of the draft by its path in the layout (lessons/..., solutions/...)."""
        starter, solution = self.file_names()
        files = {f"lessons/{name}": data for name, data in self.fixtures.items()}
        files[f"lessons/{self.lesson_id}.toml"] = self.toml.encode("utf-8")
        files[f"lessons/{starter}"] = self.starter.encode("utf-8")
        files[f"solutions/{solution}"] = self.solution.encode("utf-8")
        return files


def safe_name(name: str | None) -> str | None:
    """A plain file name (no folders), or None."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        return None
    return name


def read_draft(lesson_id: str, lessons_dir: Path | None = None, solutions_dir: Path | None = None) -> Draft:
    """The published files of a lesson, as a draft to edit (its fixtures included)."""
    lessons_dir = lessons_dir or settings.lessons_dir()
    solutions_dir = solutions_dir or settings.solutions_dir()
    toml_path = lessons_dir / f"{lesson_id}.toml"
    toml = toml_path.read_text(encoding="utf-8", errors="replace")
    draft = Draft(lesson_id, toml, "", "")
    starter, solution = draft.file_names()
    for attr, path in (("starter", lessons_dir / starter), ("solution", solutions_dir / solution)):
        with contextlib.suppress(OSError):
            setattr(draft, attr, path.read_text(encoding="utf-8", errors="replace"))
    try:
        lesson = load_lesson(toml_path, solutions_dir)
    except LessonError:
        return draft
    for name, path in fixture_files(lesson).items():
        if not name.startswith("(outside)"):
            with contextlib.suppress(OSError):
                draft.fixtures[name] = path.read_bytes()
    return draft


def draft_of(lesson: Lesson) -> Draft:
    """A loaded lesson as a draft: the TOML as written, its code, the fixtures inside its folder."""
    draft = Draft(lesson.id, lesson.path.read_text(encoding="utf-8") if lesson.path else "", lesson.starter,
                  lesson.solution)  # fmt: skip
    for name, path in fixture_files(lesson).items():
        if not name.startswith("(outside)"):
            with contextlib.suppress(OSError):
                draft.fixtures[name] = path.read_bytes()
    return draft


def write_draft(draft: Draft, root: Path) -> Path:
    """Write the draft under ``root`` (root/lessons, root/solutions); returns its TOML's path."""
    for name, data in draft.files().items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root / "lessons" / f"{draft.lesson_id}.toml"


def load_draft(draft: Draft, root: Path) -> Lesson:
    """Write the draft under ``root`` and load it: a LessonError names the field at fault."""
    path = write_draft(draft, root)
    return load_lesson(path, root / "solutions")


@contextlib.contextmanager
def draft_folder(draft: Draft) -> Iterator[Lesson]:
    """The draft loaded from a throwaway folder (removed afterwards)."""
    root = Path(tempfile.mkdtemp(prefix="draft-", dir=settings.var_dir()))
    try:
        yield load_draft(draft, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def files_version(lesson_id: str, lessons_dir: Path | None = None, solutions_dir: Path | None = None) -> str | None:
    """What is on disk for a lesson now (raw bytes of its TOML, starter, solution), or None if it has no
    TOML: the version a teacher started from, compared again at publish time."""
    lessons_dir = lessons_dir or settings.lessons_dir()
    solutions_dir = solutions_dir or settings.solutions_dir()
    toml_path = lessons_dir / f"{lesson_id}.toml"
    if not toml_path.is_file():
        return None
    draft = Draft(lesson_id, toml_path.read_text(encoding="utf-8", errors="replace"), "", "")
    starter, solution = draft.file_names()
    digest = hashlib.sha256()
    for path in (toml_path, lessons_dir / starter, solutions_dir / solution):
        digest.update(path.read_bytes() if path.is_file() else b"(missing)")
        digest.update(b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def publish_lock() -> Iterator[None]:
    """One publisher at a time: in this process (a thread lock) and across processes (a file lock)."""
    path = settings.var_dir() / "publish.lock"
    with _publish_lock, path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish_draft(
    draft: Draft,
    base_version: str | None,
    proved: bool,
    lessons_dir: Path | None = None,
    solutions_dir: Path | None = None,
) -> list[Path]:
    """Write the draft's files into the lessons folders, all or none.

    ``base_version``: ``files_version`` when the teacher opened the lesson (None: a new lesson). If the
    files changed since (another teacher published), nothing is written. ``proved``: the caller checked
    that this exact draft passed its proofs."""
    lessons_dir = lessons_dir or settings.lessons_dir()
    solutions_dir = solutions_dir or settings.solutions_dir()
    if not proved:
        raise PublishError("Not published: prove this version first (its proofs must pass).")
    targets = {
        (lessons_dir if name.startswith("lessons/") else solutions_dir)
        / PurePosixPath(name).relative_to(PurePosixPath(name).parts[0]): data
        for name, data in draft.files().items()
    }
    with publish_lock():
        current = files_version(draft.lesson_id, lessons_dir, solutions_dir)
        if current != base_version:
            if base_version is None:
                raise PublishError(
                    f"Not published: a lesson '{draft.lesson_id}' exists already (another teacher may have just "
                    "published it). Open it to edit it, or choose another id."
                )
            raise PublishError(
                f"Not published: lesson '{draft.lesson_id}' was changed since you opened it (another teacher "
                "published a version). Your text is still here: copy it, reopen the lesson, and apply your edits."
            )
        write_all(targets)
    return list(targets)


def write_all(targets: dict[Path, bytes]) -> None:
    """Write every file or none: all go to temporary files first, then each replaces its target; if any
    replace fails, the ones done are put back."""
    temps: dict[Path, Path] = {}
    backups: dict[Path, Path | None] = {}
    try:
        for target, data in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            temps[target] = Path(temp_name)
        # The TOML goes last: until it is in place, the new starter and solution are not a lesson version.
        for target in sorted(temps, key=lambda path: path.suffix == ".toml"):
            backup = None
            if target.exists():
                backup = target.with_name(f".{target.name}.bak")
                shutil.copy2(target, backup)
            backups[target] = backup
            os.replace(temps.pop(target), target)
    except BaseException:
        for target, backup in backups.items():
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        raise
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        for backup in backups.values():
            if backup is not None:
                backup.unlink(missing_ok=True)
