"""The lesson loader: shipped lessons load; every broken file names the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tutor.lessons.lesson import LessonError, load_lesson, load_lessons

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_IDS = {"assign-the-model", "build-before-fit", "scope-of-model", "load-or-build"}

GOOD = """
schema_version = 1
id = "demo"
title = "Demo"
summary = "A demo lesson."
explanation = "Explain."
why = "Why."
hints = ["one"]

[starter_fails_with]
error = "NameError"
name = "model"
line = 1

[[checks]]
kind = "no_name_error"

[[checks]]
kind = "min_accuracy"
threshold = 0.5
"""


def write_lesson(folder: Path, text: str, lesson_id: str = "demo") -> Path:
    (folder / "lessons").mkdir(exist_ok=True)
    (folder / "solutions").mkdir(exist_ok=True)
    (folder / "lessons" / f"{lesson_id}.py").write_text("model.fit()\n")
    (folder / "solutions" / f"{lesson_id}.py").write_text("model = 1\n")
    path = folder / "lessons" / f"{lesson_id}.toml"
    path.write_text(text)
    return path


def test_shipped_lessons_all_load() -> None:
    lesson_set = load_lessons(ROOT / "lessons", ROOT / "solutions")
    assert [str(e) for e in lesson_set.errors] == []
    assert {lesson.id for lesson in lesson_set.lessons} >= SHIPPED_IDS
    for lesson in lesson_set.lessons:
        assert 2 <= len(lesson.hints) <= 3, lesson.id
        assert lesson.starter != lesson.solution
        assert lesson.explanation.strip()
        assert lesson.why.strip()


def test_good_lesson_loads(tmp_path: Path) -> None:
    lesson = load_lesson(write_lesson(tmp_path, GOOD), tmp_path / "solutions")
    assert lesson.id == "demo"
    assert lesson.starter == "model.fit()\n"
    assert [c.kind for c in lesson.checks] == ["no_name_error", "min_accuracy"]
    assert lesson.checks[1].params == {"threshold": 0.5}
    assert [case.id for case in lesson.cases] == ["default"]
    assert lesson.time_s == 120


BROKEN = [
    ("title", GOOD.replace('title = "Demo"\n', "")),
    ("why", GOOD.replace('why = "Why."\n', "")),
    ("schema_version", GOOD.replace("schema_version = 1", "schema_version = 7")),
    ("checks[0].kind", GOOD.replace('kind = "no_name_error"', 'kind = "no_nameerror"')),
    ("checks[1].threshold", GOOD.replace("threshold = 0.5", "threshold = 5")),
    ("checks[1].treshold", GOOD.replace("threshold = 0.5", "treshold = 0.5")),
    ("hints", GOOD.replace('hints = ["one"]', "hints = []")),
    ("hints[0]", GOOD.replace('hints = ["one"]', "hints = [3]")),
    ("id", GOOD.replace('id = "demo"', 'id = "Demo Lesson"')),
    ("starter_fails_with", GOOD.replace("[starter_fails_with]", "[expected]")),
    ("starter_fails_with.line", GOOD.replace("line = 1", 'line = "one"')),
    ("limits.time_s", GOOD + "\n[limits]\ntime_s = 0\n"),
    ("starter_file", GOOD.replace('summary = "A demo lesson."', 'summary = "x"\nstarter_file = "nope.py"')),
    ("(syntax)", GOOD.replace('title = "Demo"', "title = Demo")),
    ("cases", GOOD + '\n[[cases]]\nid = "a"\n[[cases]]\nid = "a"\n'),
    ("cases[0].files[0]", GOOD + '\n[[cases]]\nid = "a"\n[[cases.files]]\nname = "x.keras"\n'),
    ("cases[0].files[0].name", GOOD + '\n[[cases]]\nid = "a"\n[[cases.files]]\nname = "../x"\ncontent = "x"\n'),
    ("wrong[0].replace[0]", GOOD + '\n[[wrong]]\nid = "w"\ndescription = "d"\nreplace = [["absent", "x"]]\n'),
    ("wrong[0]", GOOD + '\n[[wrong]]\nid = "w"\ndescription = "d"\n'),
]


@pytest.mark.parametrize(("field", "text"), BROKEN, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BROKEN)])
def test_broken_lesson_names_file_and_field(tmp_path: Path, field: str, text: str) -> None:
    path = write_lesson(tmp_path, text)
    with pytest.raises(LessonError) as caught:
        load_lesson(path, tmp_path / "solutions")
    assert caught.value.field == field
    assert str(path) in str(caught.value)
    assert f"field '{field}'" in str(caught.value)


def test_broken_lesson_does_not_stop_the_others(tmp_path: Path) -> None:
    for lesson_id in ("assign-the-model",):
        shutil.copy(ROOT / "lessons" / f"{lesson_id}.toml", tmp_path / f"{lesson_id}.toml")
        shutil.copy(ROOT / "lessons" / f"{lesson_id}.py", tmp_path / f"{lesson_id}.py")
    (tmp_path / "broken.toml").write_text("schema_version = 1\nid = 'broken'\n")
    lesson_set = load_lessons(tmp_path, ROOT / "solutions")
    assert [lesson.id for lesson in lesson_set.lessons] == ["assign-the-model"]
    assert len(lesson_set.errors) == 1
    assert lesson_set.errors[0].path.name == "broken.toml"


def test_missing_solution_is_named(tmp_path: Path) -> None:
    path = write_lesson(tmp_path, GOOD)
    (tmp_path / "solutions" / "demo.py").unlink()
    with pytest.raises(LessonError, match="solution_file"):
        load_lesson(path, tmp_path / "solutions")


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    # copy.toml sorts first, yet the lesson that owns the id by its file name is the one that loads.
    write_lesson(tmp_path, GOOD)
    write_lesson(tmp_path, GOOD, lesson_id="copy")  # copy.toml still says id = "demo"
    lesson_set = load_lessons(tmp_path / "lessons", tmp_path / "solutions")
    assert [lesson.id for lesson in lesson_set.lessons] == ["demo"]
    assert [(e.path.name, e.field) for e in lesson_set.errors] == [("copy.toml", "id")]
    assert "'demo' is already used by demo.toml" in str(lesson_set.errors[0])


def test_id_must_match_the_file_name(tmp_path: Path) -> None:
    path = write_lesson(tmp_path, GOOD.replace('id = "demo"', 'id = "other"'))
    with pytest.raises(LessonError) as caught:
        load_lesson(path, tmp_path / "solutions")
    assert caught.value.field == "id"
    assert "'other' must match the file name" in str(caught.value) and "id = 'demo'" in str(caught.value)
