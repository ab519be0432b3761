"""Workshop flows through the real app (AppTest) and a real SQLite file: signing in with the workshop code,
progress and code that survive a new tab and a server restart, the teacher page behind its passphrase,
and lesson files with errors shown to the teacher only."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from tests.test_app import texts
from tutor.authoring.proofs import Proof
from tutor.authoring.publishing import ProofStore, proof_key
from tutor.lessons.files import content_hash
from tutor.lessons.lesson import load_lesson
from tutor.runs.pipeline import run_columns
from tutor.store.db import IdentitySource, Run
from tutor.store.progress import (
    claim_or_create_browser_learner,
    list_learners,
    record_finished,
    record_submitted,
    sign_in_learner,
)

ROOT = Path(__file__).resolve().parent.parent
CODE = "KERAS-42"
LESSON = "assign-the-model"


@pytest.fixture
def workshop(tmp_path: Path, monkeypatch) -> Path:
    """A workshop server's settings: its own database, a code, a teacher passphrase."""
    db_path = tmp_path / "workshop.sqlite3"
    monkeypatch.setenv("TUTOR_DB_PATH", str(db_path))
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", CODE)
    monkeypatch.setenv("TUTOR_TEACHER_PASSPHRASE", "open sesame")
    return db_path


def app(**query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def sign_in(at: AppTest, name: str, code: str) -> AppTest:
    at.text_input(key="sign-in-name").input(name)
    at.text_input(key="sign-in-code").input(code)
    at.button[0].click().run()  # the form's submit button
    return at


def restart_server() -> None:
    """What a new server process would do: open the database afresh (and mark runs left in flight)."""
    from ui import state

    state.server_id.clear()
    state._open_database.clear()


def test_only_the_letters_and_digits_of_a_workshop_code_count() -> None:
    from ui.auth import code_matches

    for typed in ("keras 42", "keras42", "KERAS_42", " Keras-42\n", "K.E.R.A.S 4 2"):
        assert code_matches(typed, "KERAS-42"), typed
    for typed in ("keras 43", "keras4", "", "-", "KERAS-42-1"):
        assert not code_matches(typed, "KERAS-42"), typed
    assert code_matches(" -- ", "--") and not code_matches("-", "--")  # no letter or digit: as typed


def test_sign_in_with_the_workshop_code(workshop: Path) -> None:
    at = app()
    assert not at.exception
    assert at.title[0].value == "Welcome to the Keras NameError workshop"
    assert "learner" not in at.session_state
    sign_in(at, "Ada Lovelace", "wrong")
    assert "That workshop code does not match" in texts(at)
    assert "learner" not in at.session_state
    sign_in(at, "", CODE)
    assert "Please type your name" in texts(at)
    sign_in(at, "Ada Lovelace", " keras 42 ")  # "KERAS-42" as read aloud: spaces, dashes, case do not matter
    assert not at.exception
    assert at.session_state["learner"].display_name == "Ada Lovelace"
    assert at.title[0].value == "NameError: name 'model' is not defined"
    assert "Welcome, Ada Lovelace" in texts(at)
    assert at.query_params["learner"] == at.session_state["learner"].token


def test_code_and_progress_come_back_in_a_new_tab_and_after_a_restart(workshop: Path) -> None:
    first = sign_in(app(), "Ada", CODE)
    learner = first.session_state["learner"]
    # A run she made earlier (its code becomes her latest), then she keeps editing lesson 1: the editor's
    # text reaches the server as session state, and is stored.
    from tutor.runs.contract import RunStatus
    from ui.state import get_database

    db = get_database()
    run_id = record_submitted(db, learner.id, LESSON, "model.fit()\n", "elsewhere", 1, 1000.0)
    record_finished(db, run_id, run_columns(RunStatus.CANCELLED, None, None), 1001.0)
    left_running = record_submitted(db, learner.id, "build-before-fit", "x = 1\n", "old-server", 2, 1002.0)
    lesson = app(learner=learner.token, lesson=LESSON)
    assert lesson.title[0].value == "Keep what build_model() returns"
    assert lesson.session_state["lessons"][LESSON].code == "model.fit()\n"
    lesson.session_state["lessons"][LESSON].code = "print('my fix in progress')\n"
    lesson.run()
    restart_server()

    # The next day, in a fresh browser tab: sign in again with the same name (any case) and code.
    again = sign_in(app(), "ada", CODE)
    assert again.session_state["learner"].id == learner.id
    assert "Welcome back, Ada" in texts(again)
    assert "attempted" in texts(again) and "1 attempt" in texts(again)
    with get_database().sessions() as session:  # the restarted server marked the run left in flight
        assert session.get(Run, left_running).status == "interrupted"
    reopened = app(learner=again.session_state["learner"].token, lesson=LESSON)
    assert reopened.session_state["lessons"][LESSON].code == "print('my fix in progress')\n"
    assert "Your latest code for this lesson is back" in texts(reopened)
    assert reopened.session_state["lessons"][LESSON].status == "attempted"


def diffs(at: AppTest) -> list[str]:
    return [c.value for c in at.code if c.language == "diff"]


@pytest.mark.tf
def test_a_reload_shows_the_last_verdict_and_what_was_revealed(workshop: Path) -> None:
    """A reload (a new session of the same learner) shows her last verdict again, unfocused, and the hints
    and the solution she revealed."""
    from tests.test_app import run_until

    token = sign_in(app(), "Ada", CODE).session_state["learner"].token
    lesson = app(learner=token, lesson=LESSON)
    lesson.button(key=f"hint-{LESSON}").click().run()
    lesson.button(key=f"run-{LESSON}").click().run()
    run_until(lesson, "This is the starter code, as given.")
    assert "What happened" in texts(lesson) and "Hint 1 of 3" in texts(lesson)

    reloaded = app(learner=token, lesson=LESSON)
    page = texts(reloaded)
    assert "This is the starter code, as given." in page and page.count("What happened") == 1
    assert "On line 24, Python looked for the name model and found nothing." in page
    assert "Hint 1 of 3" in page and "Hint 2" not in page
    state = reloaded.session_state["lessons"][LESSON]
    assert state.shown is not None and not state.shown.focus and state.job is None
    assert not diffs(reloaded)  # the solution is still closed: one hint, no real attempt
    reloaded.button(key=f"solution-{LESSON}").click().run()
    reloaded.button(key=f"solution-yes-{LESSON}").click().run()
    assert diffs(reloaded)

    again = app(learner=token, lesson=LESSON)  # the confirmed solution stays open
    assert diffs(again) and "Sure?" not in texts(again) and "Hint 1 of 3" in texts(again)


def test_a_run_an_earlier_server_left_in_flight_is_said_interrupted_once(workshop: Path) -> None:
    from ui.state import get_database

    learner = sign_in(app(), "Ada", CODE).session_state["learner"]
    record_submitted(get_database(), learner.id, LESSON, "model.fit()\n", "old-server", 7, 1000.0)
    restart_server()  # a new server process: its start marks the run interrupted
    lesson = app(learner=learner.token, lesson=LESSON)
    assert texts(lesson).count("Your last run was interrupted") == 1
    assert lesson.session_state["lessons"][LESSON].job is None  # nothing to poll
    lesson.run()
    assert "Your last run was interrupted" not in texts(lesson)  # said once
    with get_database().sessions() as session:
        assert session.scalars(select(Run.status)).all() == ["interrupted"]


def test_a_reload_picks_up_a_run_still_in_flight(workshop: Path) -> None:
    from tests.test_app import run_until

    token = sign_in(app(), "Ada", CODE).session_state["learner"].token
    lesson = app(learner=token, lesson=LESSON)
    lesson.session_state["lessons"][LESSON].code = "import time\nprint('working')\ntime.sleep(30)\n"
    lesson.button(key=f"run-{LESSON}").click().run()
    run_until(lesson, "Running your code", timeout=30)
    job = lesson.session_state["lessons"][LESSON].job
    reloaded = app(learner=token, lesson=LESSON)
    assert reloaded.session_state["lessons"][LESSON].job == job
    run_until(reloaded, "Running your code", timeout=30)
    reloaded.button(key=f"stop-{LESSON}").click().run()
    run_until(reloaded, "Stopped after", timeout=30)


def test_a_link_from_another_workshop_does_not_sign_in(workshop: Path, monkeypatch) -> None:
    token = sign_in(app(), "Ada", CODE).session_state["learner"].token
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", "NEXT-WEEK")
    at = app(learner=token)
    assert "learner" not in at.session_state
    assert at.title[0].value == "Welcome to the Keras NameError workshop"


def test_teacher_page_is_locked_until_the_passphrase(workshop: Path) -> None:
    from ui.state import get_database

    db = get_database()
    bob = sign_in_learner(db, IdentitySource.WORKSHOP, "Bob", "bob", CODE)
    record_submitted(db, bob.id, LESSON, "model = build_model()\n", "s", 1, 1000.0)
    at = app()
    at.switch_page("app_pages/teacher.py").run()
    assert not at.exception
    assert "Class" not in [h.value for h in at.subheader]
    at.text_input(key="teacher-passphrase").input("guess")
    at.button[0].click().run()
    assert "That passphrase is not right" in texts(at)
    assert "Class" not in [h.value for h in at.subheader]
    for _ in range(4):  # five wrong tries in all: then even the right one waits (rate limit per session)
        at.text_input(key="teacher-passphrase").input("guess again")
        at.button[0].click().run()
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    assert "Too many tries. Wait" in texts(at) and "Class" not in [h.value for h in at.subheader]
    from ui.auth import _failed_unlocks

    _failed_unlocks().clear()  # the window has passed
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    assert not at.exception
    assert "Class" in [h.value for h in at.subheader]
    grid = at.dataframe[0].value
    assert list(grid.index) == ["Bob"]
    # columns numbered as the lesson list is (by how often people meet each cause)
    (column,) = [c for c in grid.columns if re.fullmatch(r"\d+\. Keep what build_model\(\) returns", c)]
    assert grid.loc["Bob", column] == "attempted (1 attempt)"
    assert at.selectbox(key="teacher-learner").value == bob.id
    at.selectbox(key="teacher-lesson").select("assign-the-model").run()
    assert "model = build_model()" in [c.value for c in at.code][0]


def test_without_a_workshop_code_the_teacher_page_lists_browsers_that_ran_code(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_DB_PATH", str(tmp_path / "self-paced.sqlite3"))
    monkeypatch.setenv("TUTOR_TEACHER_PASSPHRASE", "open sesame")
    from ui.state import get_database

    db = get_database()
    ran = claim_or_create_browser_learner(db)
    record_submitted(db, ran.id, LESSON, "model = build_model()\n", "s", 1, 1000.0)
    claim_or_create_browser_learner(db)  # a browser that only looked
    at = app()
    at.switch_page("app_pages/teacher.py").run()
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    assert not at.exception
    assert list(at.dataframe[0].value.index) == [f"{ran.display_name} (local)"]
    idle = len([learner for learner in list_learners(db) if learner.id != ran.id])
    assert idle >= 1  # the one that only looked, and this page's own browser if it made one
    words = "browser" if idle == 1 else "browsers"
    verb = "has" if idle == 1 else "have"
    assert f"Not listed: {idle} {words} that opened the app without a workshop code and {verb} not run" in texts(at)


def test_the_teacher_page_shows_this_workshop_and_an_earlier_one_on_request(workshop: Path) -> None:
    from ui.state import get_database

    db = get_database()
    earlier = sign_in_learner(db, IdentitySource.WORKSHOP, "Tuesday Ada", "ada", "KERAS-41")
    record_submitted(db, earlier.id, LESSON, "model = build_model()\n", "s", 1, 1000.0)
    sign_in_learner(db, IdentitySource.WORKSHOP, "Thursday Bob", "bob", CODE)
    at = app()
    at.switch_page("app_pages/teacher.py").run()
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    assert not at.exception
    # the projector's text is a view of its own (tests/test_projector.py): here a line and the link to it
    assert "How learners join (for the projector)" not in [e.label for e in at.expander]
    assert "Learners open this app's address and sign in with the workshop code KERAS-42." in texts(at)
    assert at.get("link_button")[0].proto.url == "projector"  # the address is unknown here: relative to /teacher
    picker = at.selectbox(key="teacher-workshop")
    assert picker.value == CODE and picker.options == ["This workshop KERAS-42 (1)", "Workshop KERAS-41 (1)",
                                                       "Everyone (2)"]  # fmt: skip
    assert list(at.dataframe[0].value.index) == ["Thursday Bob"]
    assert at.metric[0].value == "1"
    picker.select("\x00everyone").run()
    assert list(at.dataframe[0].value.index) == ["Thursday Bob", "Tuesday Ada"]
    at.selectbox(key="teacher-workshop").select("KERAS-41").run()
    assert list(at.dataframe[0].value.index) == ["Tuesday Ada"]


def test_teacher_page_is_off_without_a_passphrase(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_DB_PATH", str(tmp_path / "db.sqlite3"))
    at = app()
    at.switch_page("app_pages/teacher.py").run()
    assert "The teacher page is turned off" in texts(at)
    assert not at.text_input


def test_lesson_file_errors_show_on_the_teacher_page_only(workshop: Path, tmp_path: Path, monkeypatch) -> None:
    lessons = tmp_path / "lessons"
    shutil.copytree(ROOT / "lessons", lessons)
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(lessons))
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", "")
    (lessons / "half-written.toml").write_text('schema_version = 1\nid = "half-written"\n')
    at = app()
    assert "half-written" not in texts(at)
    at.switch_page("app_pages/setup.py").run()
    assert not at.exception
    assert "half-written" not in texts(at)
    teacher = app()
    teacher.switch_page("app_pages/teacher.py").run()
    teacher.text_input(key="teacher-passphrase").input("open sesame")
    teacher.button[0].click().run()
    assert "half-written.toml: field 'checks': is missing" in texts(teacher)


def record_passed_proofs(path: Path, solutions: Path) -> None:
    """What a finished proof run (background, studio or check-lessons) leaves behind for this version."""
    lesson = load_lesson(path, solutions)
    ProofStore().record(proof_key(content_hash(lesson)), lesson.id, [Proof(lesson.id, "solution", True, "passes")])


def test_a_new_lesson_file_appears_without_a_restart_once_proved(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_DB_PATH", str(tmp_path / "db.sqlite3"))
    lessons = tmp_path / "lessons"
    shutil.copytree(ROOT / "lessons", lessons)
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(lessons))
    solutions = tmp_path / "solutions"
    shutil.copytree(ROOT / "solutions", solutions)
    monkeypatch.setenv("TUTOR_SOLUTIONS_DIR", str(solutions))
    at = app()
    assert "A second lesson, just added" not in texts(at)
    toml = (lessons / "assign-the-model.toml").read_text()
    (lessons / "assign-twice.toml").write_text(
        toml.replace('id = "assign-the-model"', 'id = "assign-twice"').replace(
            "build_model() makes a model, but nothing keeps it", "A second lesson, just added"
        )
    )
    shutil.copy(lessons / "assign-the-model.py", lessons / "assign-twice.py")
    shutil.copy(solutions / "assign-the-model.py", solutions / "assign-twice.py")
    at.run()
    assert not at.exception
    assert "A second lesson, just added" not in texts(at)  # not proved yet: learners do not see it
    record_passed_proofs(lessons / "assign-twice.toml", solutions)
    at.run()  # the same server and session: the next page view has it
    assert "A second lesson, just added" in texts(at)
    # An edit is picked up the same way: learners keep the proved text until the new one is proved.
    (lessons / "assign-twice.toml").write_text(
        (lessons / "assign-twice.toml").read_text().replace("A second lesson, just added", "Edited while running")
    )
    at.run()
    assert "A second lesson, just added" in texts(at) and "Edited while running" not in texts(at)
    record_passed_proofs(lessons / "assign-twice.toml", solutions)
    at.run()
    assert "Edited while running" in texts(at) and "just added" not in texts(at)


def oidc_app(user: dict, **query: str) -> AppTest:
    """An app whose deployment configured st.login ([auth] in secrets.toml), with this user."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x"}
    at.user = user
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_st_login_identity_is_used_when_configured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_DB_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", CODE)  # st.login wins over the code
    monkeypatch.setenv("TUTOR_TEACHERS", "teacher@example.org")
    at = oidc_app({"is_logged_in": False})
    assert not at.exception
    assert [b.label for b in at.button] == [":material/login: Log in"]
    assert "learner" not in at.session_state

    ada = {"is_logged_in": True, "email": "Ada@Example.org", "name": "Ada Lovelace", "sub": "123"}
    at = oidc_app(ada)
    assert not at.exception
    learner = at.session_state["learner"]
    assert (learner.display_name, learner.identity_source) == ("Ada Lovelace", "oidc")
    assert "learner" not in at.query_params  # the login cookie identifies her; no token in the URL
    assert oidc_app(ada).session_state["learner"].id == learner.id  # another tab, same learner

    at.switch_page("app_pages/teacher.py").run()  # not a listed teacher, and there is no passphrase
    assert "for the teachers listed" in texts(at)
    assert "Class" not in [h.value for h in at.subheader]
    teacher = oidc_app({"is_logged_in": True, "email": "Teacher@example.org", "name": "T"})
    teacher.switch_page("app_pages/teacher.py").run()
    assert not teacher.exception
    assert "Class" in [h.value for h in teacher.subheader]


def test_data_and_sandbox_shows_server_paths_to_teachers_only(workshop: Path) -> None:
    from tutor import settings

    learner = sign_in(app(), "Ada", CODE)
    learner.switch_page("app_pages/setup.py").run()
    assert not learner.exception
    page = texts(learner) + "\n".join(c.value for c in learner.code)
    assert "Your code trains on" in page
    assert str(settings.var_dir()) not in page and "Limits per run" not in page
    teacher = sign_in(app(), "Tess", CODE)
    teacher.switch_page("app_pages/teacher.py").run()
    teacher.text_input(key="teacher-passphrase").input("open sesame")
    teacher.button[0].click().run()
    teacher.switch_page("app_pages/setup.py").run()
    assert "Limits per run" in texts(teacher) and "Data folder:" in "\n".join(c.value for c in teacher.code)


def test_passphrase_tries_are_limited_per_address_too(workshop: Path, monkeypatch) -> None:
    """A guesser who opens a new session for every try is still one address (st.context.ip_address)."""
    from ui import auth

    monkeypatch.setattr(auth, "_unlock_keys", lambda: [("address:203.0.113.9", auth.UNLOCK_TRIES["address"])])
    auth._failed_unlocks().clear()
    try:
        for _ in range(auth.UNLOCK_TRIES["address"]):
            at = app()
            at.switch_page("app_pages/teacher.py").run()
            at.text_input(key="teacher-passphrase").input("wrong")
            at.button[0].click().run()
            assert "That passphrase is not right" in texts(at)
        fresh = app()
        fresh.switch_page("app_pages/teacher.py").run()
        fresh.text_input(key="teacher-passphrase").input("open sesame")
        fresh.button[0].click().run()
        assert "Too many tries. Wait" in texts(fresh)
    finally:
        auth._failed_unlocks().clear()
