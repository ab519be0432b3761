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
    return serve_copies(tmp_path, monkeypatch)


def serve_copies(tmp_path: Path, monkeypatch) -> Path:
    """A server of copies of the shipped lessons, with a teacher passphrase; the lessons' folder."""
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
    for _ in range(4):  # five wrong tries in all: then even the right one waits, as on the teacher page
        at.text_input(key="studio-unlock-passphrase").input("wrong again")
        at.button[0].click().run()
    at.text_input(key="studio-unlock-passphrase").input("open sesame")
    at.button[0].click().run()
    assert "Too many tries. Wait" in texts(at) and "studio-open" not in [b.key for b in at.button]
    from ui.auth import _failed_unlocks

    _failed_unlocks().clear()  # the window has passed
    at.text_input(key="studio-unlock-passphrase").input("open sesame")
    at.button[0].click().run()
    assert "studio-open" in [b.key for b in at.button]


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


def test_the_three_files_are_tabs_each_at_full_width(server: Path) -> None:
    at = open_new(studio(), "my-lesson")
    assert [tab.label for tab in at.tabs] == ["Lesson (TOML)", "Starter", "Solution"]
    for tab, label in zip(at.tabs, ("Lesson file (TOML)", "Starter code", "Reference solution"), strict=True):
        assert label in tab.markdown[0].value  # each file's editor in a tab of its own, not a third of the width
    # the schema problems stay in sight below the tabs, whichever tab is open
    at.session_state["studio-toml-1"] = TOML.format(id="my-lesson").replace("time_s = 120", "time_limt = 120")
    at.run()
    assert "field limits.time_limt" in texts(at)
    assert not any("field limits.time_limt" in html.value for tab in at.tabs for html in tab.get("html"))


def prove_with(monkeypatch, *proofs: tuple[str, bool, str]) -> None:
    """Proofs that come back at once with these (item, passed, detail): the studio's page, not the sandbox."""
    from tutor.authoring import studio as engine
    from tutor.authoring.proofs import Proof

    def stand_in(lesson, report) -> list:
        made = [Proof(lesson.id, item, passed, detail) for item, passed, detail in proofs]
        for proof in made:
            report(proof)
        return made

    real = engine.start_proof_run
    monkeypatch.setattr(engine, "start_proof_run", lambda draft: real(draft, prove=stand_in))


def prove_now(at: AppTest) -> AppTest:
    import time

    at.button(key="studio-prove").click().run()
    deadline = time.monotonic() + 30
    while not at.session_state["studio"]["run"].finished:
        assert time.monotonic() < deadline, "the proofs did not finish in time"
        time.sleep(0.2)
    at.run()
    assert not at.exception
    return at


def test_publishing_names_each_file_with_its_folder_and_the_picker_shows_the_lesson(server: Path, monkeypatch) -> None:
    prove_with(monkeypatch, ("solution", True, "passes all 5 checks in 1 case(s)"))
    at = prove_now(open_new(studio(), "keep-the-result"))
    assert at.selectbox(key="studio-pick").value == "(a new lesson)"
    at.button(key="studio-publish").click().run()
    assert not at.exception
    assert (server / "keep-the-result.toml").exists()
    assert ("Published 'keep-the-result' (lessons/keep-the-result.toml, lessons/keep-the-result.py, "
            "solutions/keep-the-result.py): learners get this version now.") in texts(at)  # fmt: skip
    assert at.selectbox(key="studio-pick").value == "keep-the-result"  # no longer "(a new lesson)"
    assert at.text_input(key="studio-new-id").value == ""
    assert "Editing keep-the-result" in texts(at) and "— new" not in texts(at)
    at.run()  # the page as drawn again keeps the lesson picked (nothing opens a new draft)
    assert at.selectbox(key="studio-pick").value == "keep-the-result"
    assert at.session_state["studio"]["draft"].lesson_id == "keep-the-result"


def test_proof_details_show_their_code_as_code_spans_never_raw_backticks_or_markup(server: Path, monkeypatch) -> None:
    prove_with(
        monkeypatch,
        ("solution", True, "passes all 5 checks in 1 case(s)"),
        ("wrong:compare", True, "fails as intended: Line 16 writes `model == build_model()`: `==` compares"),
        ("claim:x", True, "holds: `<b>bold</b>` and [a link](https://example.com) stay text"),
        ("wrong:cut", True, "fails as intended: `model` is read before anything ever created it (`model = bu"),
    )
    at = prove_now(open_new(studio(), "my-lesson"))
    proofs = next(h.value for h in at.get("html") if "wrong:compare" in h.value)
    assert "<code>model == build_model()</code>" in proofs and "<code>==</code> compares" in proofs
    assert "<code>&lt;b&gt;bold&lt;/b&gt;</code>" in proofs and "<a " not in proofs  # escaped, nothing followed
    assert "[a link](https://example.com)" in proofs  # shown as typed: no Markdown pass
    # a detail cut at its length limit: its pairs are still code spans, the lone backtick is shown as itself
    assert "<code>model</code> is read before anything ever created it (`model = bu" in proofs
    shown = texts(at)
    assert "wrong:compare: fails as intended: Line 16 writes model == build_model(): == compares" in shown
    assert "All 4 proofs passed: this version can be published." in shown


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
    assert "wrong:compare: this wrong variant passes: == compares" in shown  # `==` as a code span, escaped
    assert "<code>==</code>" in next(h.value for h in at.get("html") if "wrong:compare" in h.value)


# Notebook lessons (issue 20): a notebook draft's starter and solution as cells, .ipynb in and out ------------


def open_new_notebook(at: AppTest, lesson_id: str) -> AppTest:
    at.text_input(key="studio-unlock-passphrase").input("open sesame")
    at.button[0].click().run()
    at.text_input(key="studio-new-id").input(lesson_id)
    at.radio(key="studio-new-kind").set_value("notebook")
    at.button(key="studio-open").click().run()
    assert not at.exception
    return at


def cell_ids(at: AppTest, name: str) -> list[int]:
    return [item.id for item in at.session_state["studio"]["cells"][name]]


def starter(at: AppTest) -> str:
    return at.session_state["studio"]["draft"].starter


def test_a_new_notebook_lesson_starts_as_the_notebook_skeleton_in_cells(server: Path) -> None:
    from tutor.authoring.new_lesson import skeleton_texts
    from tutor.lessons.kinds import LessonKind

    at = open_new_notebook(studio(), "my-notebook")
    assert "The lesson file is valid." in texts(at)
    _, skeleton_starter, skeleton_solution = skeleton_texts("my-notebook", LessonKind.NOTEBOOK)
    draft = at.session_state["studio"]["draft"]
    assert (draft.starter, draft.solution) == (skeleton_starter, skeleton_solution)  # not a copy: the same
    # four cells each (markdown, then code cells 1 to 3), an editor or text area each, with their buttons
    kinds = [item.cell.kind for item in at.session_state["studio"]["cells"]["starter"]]
    assert kinds == ["markdown", "code", "code", "code"]
    first = cell_ids(at, "starter")[0]
    assert at.text_area(key=f"studio-cell-{first}").value.startswith("# TODO: the notebook's title")
    assert at.button(key=f"studio-cell-{first}-up").disabled and not at.button(key=f"studio-cell-{first}-down").disabled
    shown = texts(at)
    assert "Code cell 3 · Train" in shown and "Cell 3 · Train" in shown  # the editor, and the preview
    assert at.toggle(key="studio-as-text").value is False
    assert not at.button(key="studio-prove").disabled


def test_cells_are_edited_added_moved_and_deleted_in_the_drafts_text(server: Path) -> None:
    at = open_new_notebook(studio(), "my-notebook")
    text = starter(at)
    heading, imports, build, train = cell_ids(at, "starter")
    at.run()
    assert starter(at) == text  # drawing the cells changes nothing: the text is the truth

    at.session_state[f"studio-cell-{train}"] = "model.fit(x_train, y_train, epochs=2)\n"  # the editor's text
    at.run()
    assert starter(at).endswith("# %% Train\nmodel.fit(x_train, y_train, epochs=2)\n")
    at.text_area(key=f"studio-cell-{heading}").input("# Keep the model\n\nRun every cell.").run()
    assert starter(at).startswith("# %% [markdown]\n# # Keep the model\n#\n# Run every cell.\n\n# %% Imports")

    at.button(key=f"studio-cell-{train}-up").click().run()  # Train above Build the model
    assert starter(at).index("# %% Train") < starter(at).index("# %% Build the model")
    assert starter(at).endswith("build_model()  # the bug: what build_model() returns is thrown away\n")
    assert "field starter_file" not in texts(at)  # still a notebook that loads (the proofs judge the order)

    at.button(key=f"studio-cell-{imports}-add-code").click().run()
    new = cell_ids(at, "starter")[2]
    assert cell_ids(at, "starter") == [heading, imports, new, train, build]
    at.session_state[f"studio-cell-{new}"] = "print('hello')"
    at.run()
    assert "y_train = y_train[:10000]\n\n# %%\nprint('hello')\n\n# %% Train\n" in starter(at)

    at.button(key=f"studio-cell-{new}-add-markdown").click().run()
    assert "print('hello')\n\n# %% [markdown]\n\n# %% Train\n" in starter(at)
    markdown = cell_ids(at, "starter")[3]
    at.button(key=f"studio-cell-{markdown}-delete").click().run()
    at.button(key=f"studio-cell-{new}-delete").click().run()
    at.button(key=f"studio-cell-{build}-up").click().run()  # back in the skeleton's order
    expected = text.replace("# TODO: the notebook's title\n#\n# Run the cells from the top: the last one stops "
                            "with a `NameError`.", "# Keep the model\n#\n# Run every cell.")  # fmt: skip
    expected = expected.replace(
        "model.fit(x_train, y_train, epochs=1, batch_size=64)", "model.fit(x_train, y_train, epochs=2)"
    )
    assert starter(at) == expected
    assert "The lesson file is valid." in texts(at)

    # A line "# %%" typed into a cell starts a new cell: the cells are read again from the text.
    at.session_state[f"studio-cell-{train}"] = "model.fit(x_train, y_train, epochs=2)\n# %% Again\nmodel.summary()"
    at.run()
    assert [item.cell.title for item in at.session_state["studio"]["cells"]["starter"]][-2:] == ["Train", "Again"]

    # "Edit as text" shows the text itself, and the cells come back from it.
    at.toggle(key="studio-as-text").set_value(True).run()
    assert at.session_state["studio"]["cells"] == {}
    at.toggle(key="studio-as-text").set_value(False).run()
    assert [item.cell.title for item in at.session_state["studio"]["cells"]["starter"]][-1] == "Again"
    assert not at.exception


def ipynb(*cells: tuple[str, str]) -> bytes:
    import json

    return json.dumps({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": source,
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for i, (kind, source) in enumerate(cells)],
    }).encode()  # fmt: skip


def test_an_ipynb_import_sets_the_starters_cells_and_the_skeletons_solution(server: Path) -> None:
    at = open_new_notebook(studio(), "my-notebook")
    assert at.radio(key="studio-ipynb-into-0-1").value == "both"  # the solution is still the skeleton's
    notebook = ipynb(("markdown", "# Hello"), ("code", "x = 1"), ("code", "print(y)"))
    at.file_uploader(key="studio-ipynb-0").set_value(("hello.ipynb", notebook, "application/x-ipynb+json")).run()
    at.button(key="studio-ipynb-import").click().run()
    assert not at.exception
    text = "# %% [markdown]\n# # Hello\n\n# %%\nx = 1\n\n# %%\nprint(y)\n"
    assert (starter(at), at.session_state["studio"]["draft"].solution) == (text, text)
    assert [item.cell.source for item in at.session_state["studio"]["cells"]["starter"]] == ["# # Hello", "x = 1",
                                                                                             "print(y)"]  # fmt: skip
    shown = texts(at)
    assert "Imported hello.ipynb into the starter and the solution: 3 cells, 2 of them code" in shown
    # the skeleton's TOML counts 3 code cells: the schema says which fields no longer fit
    assert "field notebook.session[2]: the starter has no code cell 3 (it has 2)" in shown
    assert at.file_uploader(key="studio-ipynb-1")  # a fresh file chooser

    # The solution is no longer the skeleton's: a second import goes to the starter unless told otherwise.
    assert at.radio(key="studio-ipynb-into-1-0").value == "starter"
    at.file_uploader(key="studio-ipynb-1").set_value(("two.ipynb", ipynb(("code", "a = 2")), "application/json"))
    at.button(key="studio-ipynb-import").click().run()
    assert starter(at) == "# %%\na = 2\n" and at.session_state["studio"]["draft"].solution == text


def test_a_broken_ipynb_is_refused_in_words(server: Path) -> None:
    at = open_new_notebook(studio(), "my-notebook")
    text = starter(at)
    for name, raw, words in (
        ("broken.ipynb", b"{not json", "Not imported: broken.ipynb is not JSON"),
        ("old.ipynb", b'{"cells": []}', "Not imported: old.ipynb is not a notebook: it has no nbformat version"),
        ("empty.ipynb", ipynb(("markdown", "only words")), "Not imported: empty.ipynb has no code cell"),
        ("big.ipynb", b" " * 1_000_001, "a lesson notebook may have at most 1,000,000"),
    ):
        key = next(u.key for u in at.file_uploader if u.key.startswith("studio-ipynb-"))
        at.file_uploader(key=key).set_value((name, raw, "application/json"))
        at.button(key="studio-ipynb-import").click().run()
        assert not at.exception
        assert words in texts(at) and "Traceback" not in texts(at)
        assert starter(at) == text  # nothing changed


def test_a_notebook_draft_goes_out_as_ipynb(server: Path) -> None:
    import json

    from tutor.lessons.cells import from_ipynb

    at = open_new_notebook(studio(), "my-notebook")
    downloads = {button.key: button for button in at.get("download_button")}
    assert {"studio-ipynb-starter", "studio-ipynb-solution"} <= set(downloads)
    from tutor.authoring.studio import ipynb_of
    from tutor.lessons.cells import join_cells

    assert join_cells(from_ipynb(json.loads(ipynb_of(starter(at))))) == starter(at)
