"""``python -m tutor lessons --json``: every lesson with its kind and its files by role, and every broken
lesson file with its problems, for tools (an editor's lesson list, a CI step).

Files are a list with roles; a project lesson's modules are within its starter and solution files (each
after a ``# ==> name.py <==`` header), listed apart as ``modules`` with the ``entry`` that runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tutor.lessons.files import fixture_files
from tutor.lessons.kinds import FileRole
from tutor.lessons.lesson import Lesson, LessonSet, SourceFile


def lesson_files(lesson: Lesson) -> list[SourceFile]:
    """The lesson's files: its TOML, its starter(s) and solution(s), and the fixture files it names."""
    files = [SourceFile(FileRole.LESSON, lesson.path)] if lesson.path else []
    files += list(lesson.sources)
    files += [SourceFile(FileRole.FIXTURE, path) for _, path in sorted(fixture_files(lesson).items())]
    return files


def shown_path(path: Path, base: Path) -> str:
    """The path relative to ``base`` (the current folder) where it lies below it, else absolute."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def lessons_json(lesson_set: LessonSet, base: Path) -> dict[str, Any]:
    """``{"lessons": [{id, kind, title, order, cause, files: [{role, path}], (project:) modules, entry}],
    "broken": [{file, problems}]}``, the lessons in the list's order."""
    return {
        "lessons": [
            {
                "id": lesson.id,
                "kind": str(lesson.kind),
                "title": lesson.title,
                "order": lesson.order,
                "cause": str(lesson.cause) if lesson.cause is not None else None,
                "files": [{"role": str(f.role), "path": shown_path(f.path, base)} for f in lesson_files(lesson)],
                # a project's modules live in its starter (and solution) file, each after its header
                **({"modules": list(lesson.project.modules), "entry": lesson.project.entry} if lesson.project else {}),
            }
            for lesson in lesson_set.lessons
        ],
        "broken": [
            {
                "file": shown_path(error.path, base),
                "problems": [{"field": field, "problem": problem} for field, problem in error.problems],
            }
            for error in lesson_set.errors
        ],
    }
