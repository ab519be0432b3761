"""The lesson studio page and the teacher page's proof states, in Streamlit's AppTest (no sandbox runs:
a draft is checked by the schema loader as the teacher types; proving and publishing for real is in
test_browser_studio.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_app import texts
from tutor.authoring.new_lesson import TOML
from tutor.authoring.studio import field_line

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TUTOR_DB_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("TUTOR_TEACHER_PASSPHRASE", "open sesame")
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    shutil.copytree(ROOT / "lessons", lessons)
    shutil.copytree(ROOT / "solutions", solutions)
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(lessons))
    monkeypatch.setenv("TUTOR_SOLUTIONS_DIR", str(solutions))
    monkeypatch.setenv("TUTOR_PROOFS_PATH", str(tmp_path / "var" / "proofs.json"))  # this server's own
    return lessons


def studio() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page("app_pages/studio.py").run()
    return at


def test_the_studio_is_for_teachers_only(server: Path) -> None:
    at = studio()
    assert not at.exception
    assert at.text_input(key="studio-unlock-passphrase") and "studio-open" not in [b.key for b in at.button]
    at.text_input(key="studio-unlock-passphrase").input("wrong")
    at.button[0].click().run()
    assert "That passphrase is not right." in texts(at) and "studio-open" not in [b.key for b in at.button]


def open_new(at: AppTest, lesson_id: str) -> AppTest:
    at.text_input(key="studio-unlock-passphrase").input("open sesame")
    at.button[0].click().run()
    at.text_input(key="studio-new-id").input(lesson_id)
    at.button(key="studio-open").click().run()
    assert not at.exception
    return at


def test_a_new_lesson_starts_as_a_valid_skeleton_with_a_preview(server: Path) -> None:
    at = open_new(studio(), "my-lesson")
    assert "The lesson file is valid." in texts(at)
    assert "TODO: a short title" in [title.value for title in at.title]  # the learner's page, previewed
    assert at.button(key="studio-publish").disabled  # not proved yet
    assert not at.button(key="studio-prove").disabled
    assert not (server / "my-lesson.toml").exists()  # nothing is written before Publish


def test_schema_problems_show_at_the_field_as_the_teacher_types(server: Path) -> None:
    at = open_new(studio(), "my-lesson")
    toml = TOML.format(id="my-lesson")
    at.session_state["studio-toml-1"] = toml.replace("time_s = 120", "time_s = 120\ntime_limit = 5")
    at.run()  # what the editor sends ~200 ms after the teacher stops typing
    shown = texts(at)
    assert "lessons/my-lesson.toml field limits.time_limit" in shown and "time_s" in shown
    assert at.button(key="studio-prove").disabled
    at.session_state["studio-toml-1"] = toml
    at.run()
    assert "The lesson file is valid." in texts(at)
    assert not at.button(key="studio-prove").disabled


def test_a_field_at_fault_is_marked_on_its_own_line() -> None:
    toml = TOML.format(id="x").replace("time_s = 120", "time_s = 120\ntime_limt = 5")
    lines = toml.splitlines()
    assert lines[field_line(toml, "limits.time_limt") - 1] == "time_limt = 5"
    assert lines[field_line(toml, "checks[1].kind") - 1] == 'kind = "no_error"'  # under the 2nd [[checks]]
    assert lines[field_line(toml, "wrong[0].replace[0]") - 1].startswith("replace = ")
    assert lines[field_line(toml, "title") - 1].startswith("title = ")
    assert field_line(toml, "(syntax)", "Expected '=' (at line 3, column 5)") == 3
    assert field_line(toml, "checks[7]") is None and field_line(toml, "nothing") is None


def test_an_id_in_use_or_malformed_is_refused(server: Path) -> None:
    at = open_new(studio(), "assign-the-model")
    assert "exists already" in texts(at) and "studio-prove" not in [b.key for b in at.button]
    at.text_input(key="studio-new-id").input("Bad Id")
    at.button(key="studio-open").click().run()
    assert "lowercase words joined by '-'" in texts(at)


def test_the_teacher_page_shows_each_lessons_proof_state(server: Path) -> None:
    AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()  # the server ran the shipped lessons
    (server / "assign-the-model.toml").write_text(
        (server / "assign-the-model.toml").read_text().replace("title = ", 'title = "Edited" #', 1)
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page("app_pages/teacher.py").run()
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    assert not at.exception
    frame = next(df.value for df in at.dataframe if "newest version" in df.value.columns)
    rows = {row["lesson"]: row for row in frame.to_dict("records")}
    assert rows["build-before-fit"]["newest version"] == "shipped (proved by CI)"
    edited = rows["assign-the-model"]
    assert edited["newest version"] == "waiting to be proved"  # background proofs are off in tests
    assert edited["learners get"] == "the shipped version (an older version)"


def test_a_failed_version_shows_its_failing_proof_and_learners_keep_the_shipped_one(server: Path) -> None:
    from tutor.authoring.proofs import Proof
    from tutor.authoring.publishing import ProofStore, proof_key
    from tutor.lessons.files import content_hash
    from tutor.lessons.lesson import load_lesson

    AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()  # the server ran the shipped lessons
    path = server / "assign-the-model.toml"
    path.write_text(path.read_text().replace("title = ", 'title = "Edited, failing" #', 1))
    lesson = load_lesson(path, server.parent / "solutions")
    ProofStore().record(proof_key(content_hash(lesson)), lesson.id, [
        Proof(lesson.id, "solution", True, "passes"),
        Proof(lesson.id, "wrong:compare", False, "this wrong variant passes: `==` compares"),
    ])  # fmt: skip
    from ui import state

    state._library.clear()  # a restart: the proved version comes back from var/lesson-versions
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert "Edited, failing" not in texts(at)  # learners: the shipped version
    at.switch_page("app_pages/teacher.py").run()
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    frame = next(df.value for df in at.dataframe if "newest version" in df.value.columns)
    row = next(row for row in frame.to_dict("records") if row["lesson"] == "assign-the-model")
    assert row["newest version"] == "failed"
    assert row["learners get"] == "the shipped version (an older version)"
    shown = texts(at)
    assert "assign-the-model: the newest version failed these proofs" in shown
    assert "wrong:compare: this wrong variant passes: `==` compares" in shown  # plain text, as check-lessons says
