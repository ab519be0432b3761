"""Authoring tools: fixture scripts run in the real sandbox (no TensorFlow here), and
``python -m tutor new-lesson`` writes a skeleton that loads, and proves itself (the tf tests), a script's
and a project's (``--kind project``: two modules, the entry run as the program)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_lessons import GOOD, write_lesson
from tutor.authoring.new_lesson import write_skeleton
from tutor.authoring.proofs import prove_fixture, prove_lessons
from tutor.cli import main
from tutor.grading.grade import grade_source
from tutor.lessons import fixtures
from tutor.lessons.fixtures import MAX_FIXTURE_BYTES, FixtureError, generate_fixture
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import CaseFile, load_lesson
from tutor.lessons.project import parse_modules
from tutor.sandbox.isolation import Limits

SCRIPTS = {
    "ok.py": 'with open("out.bin", "wb") as f:\n    f.write(bytes(range(256)) * 40)\nprint("made it")\n',
    "crash.py": 'x = 1\nraise ValueError("broken on purpose")\n',
    "loop.py": "while True:\n    pass\n",
    "huge.py": 'with open("out.bin", "wb") as f:\n    for _ in range(1024):\n        f.write(b"x" * 1024 * 1024)\n',
    "lazy.py": 'print("forgot to write the file")\n',
    "big.py": f'open("out.bin", "wb").write(b"x" * {MAX_FIXTURE_BYTES + 1})\n',
}


@pytest.fixture
def scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUTOR_VAR_DIR", str(tmp_path / "var"))  # a cache of this test's own
    folder = tmp_path / "fixtures"
    folder.mkdir()
    for name, text in SCRIPTS.items():
        (folder / name).write_text(text)
    return folder


def case_file(folder: Path, script: str) -> CaseFile:
    return CaseFile(
        "out.bin", generate=folder / script, lesson_path=Path("lessons/demo.toml"), where="cases[0].files[0]"
    )


def test_fixture_is_made_in_the_sandbox_and_cached(scripts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = generate_fixture(case_file(scripts, "ok.py"), Limits(wall_s=30))
    assert path.read_bytes() == bytes(range(256)) * 40  # every byte value survives the trip out
    monkeypatch.setattr(fixtures, "run_program", lambda request: pytest.fail("the cache was not used"))
    assert generate_fixture(case_file(scripts, "ok.py")) == path
    # A new Keras version is a new key: the file is made again.
    monkeypatch.setattr(fixtures, "keras_version", lambda: "99.0")
    with pytest.raises(pytest.fail.Exception, match="the cache was not used"):
        generate_fixture(case_file(scripts, "ok.py"))


def test_a_crashing_fixture_script_shows_its_own_traceback(scripts: Path) -> None:
    with pytest.raises(FixtureError) as caught:
        generate_fixture(case_file(scripts, "crash.py"), Limits(wall_s=30))
    error = caught.value
    assert (error.path, error.field) == (Path("lessons/demo.toml"), "cases[0].files[0].generate")
    assert 'File "crash.py", line 2, in <module>' in error.problem
    assert error.problem.rstrip().endswith("ValueError: broken on purpose")
    assert "main.py" not in error.problem  # the driver that carries the file out is not the teacher's


def test_a_looping_fixture_script_is_stopped_by_the_time_limit(scripts: Path) -> None:
    started = time.monotonic()
    with pytest.raises(FixtureError, match=r"loop\.py was stopped after 2 s, the time limit"):
        generate_fixture(case_file(scripts, "loop.py"), Limits(wall_s=2))
    assert time.monotonic() - started < 30


def test_a_fixture_script_writing_1_gb_is_stopped(scripts: Path, tmp_path: Path) -> None:
    with pytest.raises(FixtureError) as caught:
        generate_fixture(case_file(scripts, "huge.py"), Limits(wall_s=30))
    assert "huge.py" in caught.value.problem and "File too large" in caught.value.problem
    cached = [p for p in (tmp_path / "var").rglob("*") if p.is_file()]
    assert cached == []


@pytest.mark.parametrize(
    ("script", "words"),
    [("lazy.py", "did not write out.bin"), ("big.py", f"at most {MAX_FIXTURE_BYTES:,}")],
)
def test_fixture_scripts_that_write_nothing_or_too_much(scripts: Path, script: str, words: str) -> None:
    with pytest.raises(FixtureError, match=words):
        generate_fixture(case_file(scripts, script), Limits(wall_s=30))


def test_a_broken_fixture_is_a_lesson_error_in_proofs_and_a_grader_error_for_learners(
    tmp_path: Path, scripts: Path
) -> None:
    text = GOOD + '\n[[cases]]\nid = "a"\n[[cases.files]]\nname = "out.bin"\ngenerate = "../fixtures/crash.py"\n'
    lesson = load_lesson(write_lesson(tmp_path, text), tmp_path / "solutions")
    proof = prove_fixture(lesson, lesson.cases[0].files[0])
    assert not proof.passed and proof.item == "fixture:cases[0].files[0]"
    assert "field 'cases[0].files[0].generate'" in proof.detail and "ValueError: broken on purpose" in proof.detail
    verdict = grade_source(lesson, "print('hello')\n")
    assert not verdict.passed
    assert "ValueError: broken on purpose" in verdict.grader_error


def test_new_lesson_writes_a_skeleton_that_loads(tmp_path: Path, capsys) -> None:
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    args = ["new-lesson", "keep-it", "--lessons-dir", str(lessons), "--solutions-dir", str(solutions)]
    assert main(args) == 0
    out = capsys.readouterr().out
    files = [lessons / "keep-it.toml", lessons / "keep-it.py", solutions / "keep-it.py"]
    assert all(f"wrote   {path}" in out for path in files)
    lesson = load_lesson(lessons / "keep-it.toml", solutions)
    assert lesson.expect.line is None and lesson.expect.error == "NameError"
    assert lesson.starter != lesson.solution and len(lesson.wrong) == 1
    # Never overwrites: a second run refuses and leaves the teacher's edits alone.
    (lessons / "keep-it.py").write_text("edited\n")
    assert main(args) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert (lessons / "keep-it.py").read_text() == "edited\n"


def test_new_lesson_rejects_a_bad_id(tmp_path: Path, capsys) -> None:
    assert main(["new-lesson", "Keep It", "--lessons-dir", str(tmp_path), "--solutions-dir", str(tmp_path)]) == 2
    assert "is not a lesson id" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.tf
def test_new_lesson_skeleton_proves_itself(tmp_path: Path) -> None:
    skeleton = write_skeleton("keep-it", tmp_path / "lessons", tmp_path / "solutions")
    proofs = prove_lessons([skeleton.lesson], jobs=2)
    assert [(p.item, p.passed) for p in proofs if not p.passed] == []
    starter = next(p for p in proofs if p.item == "starter")
    assert "left out: found line 17" in starter.detail


def test_new_lesson_kind_project_writes_a_project_skeleton_that_loads(tmp_path: Path, capsys) -> None:
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    args = ["new-lesson", "keep-it", "--kind", "project", "--lessons-dir", str(lessons), "--solutions-dir",
            str(solutions)]  # fmt: skip
    assert main(args) == 0
    assert "wrote   " in capsys.readouterr().out
    lesson = load_lesson(lessons / "keep-it.toml", solutions)
    assert lesson.kind is LessonKind.PROJECT and lesson.project is not None
    assert lesson.project.modules == ("model_def.py", "train.py") and lesson.project.entry == "train.py"
    modules = {module.name: module for module in lesson.starter_modules}
    # where the NameError happens, as the TOML says: the module and the line counted within it
    assert lesson.expect.file == "train.py" and lesson.expect.error == "NameError" and lesson.expect.name == "model"
    assert modules["train.py"].lines[lesson.expect.line - 1].startswith("model.fit(")
    assert "from model_def import build_model" in modules["train.py"].source
    assert "def build_model():" in modules["model_def.py"].source
    solution = {module.name: module.source for module in parse_modules(lesson.solution)}
    assert "model = build_model()" in solution["train.py"]
    assert solution["model_def.py"] == modules["model_def.py"].source
    for module in lesson.starter_modules:
        compile(module.source, module.name, "exec")
    assert main(args) == 2  # never overwrites
    assert "not overwriting" in capsys.readouterr().err


@pytest.mark.tf
def test_new_lesson_project_skeleton_proves_itself(tmp_path: Path) -> None:
    skeleton = write_skeleton("keep-it", tmp_path / "lessons", tmp_path / "solutions", LessonKind.PROJECT)
    proofs = prove_lessons([skeleton.lesson], jobs=2)
    assert [(p.item, p.passed) for p in proofs if not p.passed] == []
    starter = next(p for p in proofs if p.item == "starter")
    assert "expected NameError for 'model' on line 13 in train.py, got NameError for 'model' on line 13" in (
        starter.detail
    )


def test_fixture_cache_entries_unused_for_a_month_go_and_used_ones_stay(scripts: Path) -> None:
    """Each use marks an entry used; a newly made fixture removes entries unused for UNUSED_DAYS (an old
    script's, an older Keras'). A removed one that is needed again is simply made again."""
    import os

    from tutor import settings

    made = generate_fixture(case_file(scripts, "ok.py"), Limits(wall_s=30))
    month = fixtures.UNUSED_DAYS * 86400
    stale = settings.fixtures_dir() / "0123456789abcdef"  # an entry of a script since edited
    stale.mkdir()
    (stale / "out.bin").write_bytes(b"old")
    long_ago = time.time() - month - 3600
    for entry in (stale, made.parent):
        os.utime(entry, (long_ago, long_ago))
    assert generate_fixture(case_file(scripts, "ok.py")) == made  # a cache hit: used now
    assert made.parent.stat().st_mtime > time.time() - 60
    (scripts / "ok2.py").write_text(SCRIPTS["ok.py"].replace("40", "41"))
    generate_fixture(case_file(scripts, "ok2.py"), Limits(wall_s=30))  # a new entry prunes
    assert not stale.exists()
    assert made.is_file()
