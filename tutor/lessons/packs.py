"""Lesson packs: a zip of lessons + solutions + fixtures, to share lessons between installs.

Layout inside the zip: ``lessons/<id>.toml``, ``lessons/<id>.py``, ``solutions/<id>.py`` and fixture
files under ``lessons/``. A pack is untrusted input: ``read_pack`` rejects absolute paths, ``..``,
symlinks, files outside those two folders, duplicate names and oversize members (checked on the bytes
actually read, not only the size the zip declares), each with an error that names the entry. Lessons from
a pack are proved before they are published, like any other new version.
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tutor.lessons.files import Draft, read_draft
from tutor.lessons.schema import ID_PATTERN

MAX_MEMBER_BYTES = 2 * 1024 * 1024
MAX_PACK_BYTES = 20 * 1024 * 1024  # all members together, uncompressed
MAX_MEMBERS = 200
FOLDERS = ("lessons", "solutions")


class PackError(Exception):
    """The pack cannot be imported; the message names the entry at fault."""


@dataclass
class Pack:
    files: dict[str, bytes] = field(default_factory=dict)  # layout path → bytes

    def drafts(self) -> list[Draft]:
        """One draft per lesson TOML in the pack; every fixture under lessons/ goes with each."""
        tomls = sorted(name for name in self.files if _is_lesson_toml(name))
        if not tomls:
            raise PackError("the pack has no lessons/<id>.toml: it is not a lesson pack")
        drafts = []
        for name in tomls:
            lesson_id = PurePosixPath(name).stem
            if not ID_PATTERN.match(lesson_id):
                raise PackError(f"entry '{name}': '{lesson_id}' is not a lesson id (lowercase words joined by '-')")
            try:
                toml = self.files[name].decode("utf-8")
            except UnicodeDecodeError:
                raise PackError(f"entry '{name}': not UTF-8 text") from None
            draft = Draft(lesson_id, toml, "", "")
            starter, solution = draft.file_names()
            draft.starter = self.text(f"lessons/{starter}")
            draft.solution = self.text(f"solutions/{solution}")
            claimed = {name, f"lessons/{starter}"}
            draft.fixtures = {
                path.removeprefix("lessons/"): data
                for path, data in self.files.items()
                if path.startswith("lessons/") and path not in claimed and not _is_lesson_toml(path)
                and not _is_starter_of_other(path, tomls)
            }  # fmt: skip
            drafts.append(draft)
        return drafts

    def text(self, name: str) -> str:
        if name not in self.files:
            raise PackError(f"entry '{name}' is missing from the pack")
        try:
            return self.files[name].decode("utf-8")
        except UnicodeDecodeError:
            raise PackError(f"entry '{name}': not UTF-8 text") from None


def _is_lesson_toml(name: str) -> bool:
    path = PurePosixPath(name)
    return len(path.parts) == 2 and path.parts[0] == "lessons" and path.suffix == ".toml"


def _is_starter_of_other(name: str, tomls: list[str]) -> bool:
    path = PurePosixPath(name)
    return len(path.parts) == 2 and f"lessons/{path.stem}.toml" in tomls and path.suffix == ".py"


def check_entry_name(name: str) -> str:
    """The entry's path in the layout, or a PackError naming it."""
    if "\\" in name:
        raise PackError(f"entry '{name}': backslashes are not allowed in pack paths")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise PackError(f"entry '{name}': absolute paths are not allowed")
    parts = PurePosixPath(name).parts
    if any(part == ".." for part in parts):
        raise PackError(f"entry '{name}': '..' is not allowed in pack paths")
    if not parts or parts[0] not in FOLDERS or len(parts) < 2:
        raise PackError(f"entry '{name}': a pack holds only lessons/... and solutions/... files")
    if any(part.startswith(".") or part in ("", ".") for part in parts):
        raise PackError(f"entry '{name}': hidden files and empty path parts are not allowed")
    if parts[0] == "solutions" and len(parts) != 2:
        raise PackError(f"entry '{name}': solutions/ holds files only, no folders")
    return "/".join(parts)


def read_pack(data: bytes) -> Pack:
    """Validate and read a pack (the zip's bytes)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackError(f"not a zip file: {exc}") from None
    pack = Pack()
    total = 0
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise PackError(f"the pack has {len(members)} entries; at most {MAX_MEMBERS} are allowed")
        for info in members:
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise PackError(f"entry '{info.filename}': symbolic links are not allowed")
            if info.is_dir():
                check_entry_name(info.filename.rstrip("/") + "/x")  # a folder's path must be allowed too
                continue
            if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits: a plain file (most zip tools)
                raise PackError(f"entry '{info.filename}': only plain files are allowed")
            name = check_entry_name(info.filename)
            if name in pack.files:
                raise PackError(f"entry '{info.filename}': appears twice in the pack")
            if info.file_size > MAX_MEMBER_BYTES:
                raise PackError(f"entry '{info.filename}': {info.file_size:,} bytes; at most {MAX_MEMBER_BYTES:,}")
            try:
                with archive.open(info) as member:
                    content = member.read(MAX_MEMBER_BYTES + 1)  # the declared size may lie
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                raise PackError(f"entry '{info.filename}': cannot be read: {exc}") from None
            if len(content) > MAX_MEMBER_BYTES:
                raise PackError(f"entry '{info.filename}': larger than {MAX_MEMBER_BYTES:,} bytes")
            total += len(content)
            if total > MAX_PACK_BYTES:
                raise PackError(f"entry '{info.filename}': the pack is larger than {MAX_PACK_BYTES:,} bytes in all")
            pack.files[name] = content
    pack.drafts()  # a pack without lessons, or a lesson without its starter/solution, is told now
    return pack


def export_pack(lesson_ids: list[str], lessons_dir: Path | None = None, solutions_dir: Path | None = None) -> bytes:
    """The published files of these lessons (with their fixtures) as a zip."""
    files: dict[str, bytes] = {}
    for lesson_id in lesson_ids:
        files.update(read_draft(lesson_id, lessons_dir, solutions_dir).files())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()
