"""Project lessons in the lesson studio (kind = "project"): a new one starts as new-lesson's project skeleton, its
starter and solution shown one module at a time (a module picker, the entry, add / rename / delete, undo), each
edit written back into the one text with a ``# ==> name.py <==`` header per module; proved and published as any
lesson. The first tests prove with a stand-in prover (no sandbox); the last proves on real sandboxes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_app import texts
from tests.test_studio_app import serve_copies, studio
from tutor.authoring import studio as studio_engine
from tutor.authoring.new_lesson import skeleton_texts
from tutor.authoring.proofs import Proof
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import load_lesson
from tutor.lessons.project import parse_modules
from ui.studio_modules import ENTRY, NEW_NAME, PICK, RENAME

LESSON = "my-project"


@pytest.fixture
def lessons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The studio's server (tests/test_studio_app.py): a copy of the shipped lessons; their folder."""
    return serve_copies(tmp_path, monkeypatch)


def open_new_project(at: AppTest, lesson_id: str = LESSON) -> AppTest:
    at.text_input(key="studio-unlock-passphrase").input("open sesame")
    at.button[0].click().run()
    at.text_input(key="studio-new-id").input(lesson_id)
    at.radio(key="studio-new-kind").set_value("project")
    at.button(key="studio-open").click().run()
    assert not at.exception
    return at


def draft(at: AppTest):
    return at.session_state["studio"]["draft"]


def modules(text: str) -> dict[str, str]:
    return {module.name: module.source for module in parse_modules(text)}


def module_key(at: AppTest, name: str, module: str) -> str:
    """The key of the module editor the page draws now (what the editor sends lands there)."""
    state = at.session_state["studio"]
    return f"studio-{name}-{state['gen']}.{state['view']}-module-{module}"


def type_into(at: AppTest, name: str, module: str, text: str) -> None:
    at.session_state[module_key(at, name, module)] = text  # what the editor sends ~200 ms after typing stops
    at.run()
    assert not at.exception


def click(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception


def wait_for_proofs(at: AppTest, timeout: float) -> None:
    """Rerun the page (as its live panel does) until the proof run is over."""
    deadline = time.monotonic() + timeout
    while not at.session_state["studio"]["run"].finished:
        assert time.monotonic() < deadline, "the proofs did not finish in time"
        time.sleep(0.5)
    at.run()
    assert not at.exception


def test_a_new_project_lesson_starts_as_the_project_skeleton_one_module_at_a_time(lessons: Path) -> None:
    at = open_new_project(studio())
    assert "The lesson file is valid." in texts(at)
    toml, starter, solution = skeleton_texts(LESSON, LessonKind.PROJECT)
    assert (draft(at).toml, draft(at).starter, draft(at).solution) == (toml, starter, solution)
    picker = at.segmented_control(key=PICK)
    assert picker.label == "Module shown in the starter and solution editors"
    assert picker.options == ["model_def.py", "train.py (runs)"] and picker.value == "train.py"  # the entry first
    assert at.selectbox(key=ENTRY).value == "train.py"
    labels = [t.label for t in at.text_input if t.key in (NEW_NAME, RENAME)]
    assert labels == ["New module's name", "Rename train.py to"]
    shown = texts(at)
    assert "model_def.py" in shown and "run as the program (python train.py)" in shown  # the preview
    assert at.toggle(key="studio-as-text").value is False
    at.run()
    assert (draft(at).starter, draft(at).solution) == (starter, solution)  # drawing the modules changes nothing
    # "Edit as text" shows each text whole, headers and all; the modules come back from it
    at.toggle(key="studio-as-text").set_value(True).run()
    assert at.session_state["studio"]["mode"] == "text"
    at.toggle(key="studio-as-text").set_value(False).run()
    assert at.session_state["studio"]["mode"] == "modules" and not at.exception


def test_a_shipped_project_lesson_opens_at_its_entry_module(lessons: Path) -> None:
    at = studio()
    at.text_input(key="studio-unlock-passphrase").input("open sesame")
    at.button[0].click().run()
    at.selectbox(key="studio-pick").set_value("model-in-another-module")
    click(at, "studio-open")
    assert "The lesson file is valid." in texts(at) and "a project lesson" in texts(at)
    picker = at.segmented_control(key=PICK)
    assert picker.value == "train.py" and picker.options == ["model_def.py", "train.py (runs)"]  # as labelled
    at.run()
    shipped = (lessons / "model-in-another-module.py").read_text()
    assert draft(at).starter == shipped  # drawing the modules changes nothing


def test_modules_are_edited_added_and_the_entry_switched_then_published_as_a_project(
    lessons: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proved: list[str] = []

    def stand_in(lesson, report) -> list[Proof]:  # the proofs pass at once: this test is about the editing
        proved.append(lesson.starter)
        proof = Proof(lesson.id, "solution", True, "passes (a stand-in for the sandbox)")
        report(proof)
        return [proof]

    real = studio_engine.start_proof_run
    monkeypatch.setattr(studio_engine, "start_proof_run", lambda d: real(d, prove=stand_in))
    at = open_new_project(studio())
    skeleton_starter = draft(at).starter

    # Edit train.py in the starter: only that module changes.
    train = modules(skeleton_starter)["train.py"].replace("epochs=1", "epochs=2")
    type_into(at, "starter", "train.py", train)
    assert modules(draft(at).starter)["train.py"] == train
    assert modules(draft(at).starter)["model_def.py"] == modules(skeleton_starter)["model_def.py"]

    # Add a module: in the starter and the solution, shown at once.
    at.text_input(key=NEW_NAME).input("run_training")
    click(at, "module-studio-add")
    assert "Added run_training.py to the starter and the solution" in texts(at)
    assert at.session_state[PICK] == "run_training.py" and at.text_input(key=NEW_NAME).value == ""
    for name in ("starter", "solution"):
        assert list(modules(getattr(draft(at), name))) == ["model_def.py", "train.py", "run_training.py"]
        type_into(at, name, "run_training.py", '"""Runs the training."""\n\nimport train  # noqa: F401\n')
    written = '# ==> run_training.py <==\n"""Runs the training."""\n\nimport train  # noqa: F401\n'
    assert draft(at).starter.endswith(written)

    # A bad name is refused in words, and nothing changes.
    before = draft(at).starter
    at.text_input(key=NEW_NAME).input("os")
    click(at, "module-studio-add")
    assert "would hide Python's or an installed package's own os" in texts(at) and draft(at).starter == before

    # The entry: the TOML's [project] entry, its comment kept, and a fresh TOML editor with it.
    at.selectbox(key=ENTRY).set_value("run_training.py").run()
    assert not at.exception
    assert 'entry = "run_training.py"' in draft(at).toml and 'entry = "train.py"' not in draft(at).toml
    assert "The lesson file is valid." in texts(at)

    # Prove (the stand-in), then Publish: the files on disk are a project lesson with the modules as edited.
    click(at, "studio-prove")
    wait_for_proofs(at, timeout=30)
    assert proved == [draft(at).starter]
    assert not at.button(key="studio-publish").disabled
    click(at, "studio-publish")
    assert f"Published '{LESSON}'" in texts(at)
    solutions = lessons.parent / "solutions"
    lesson = load_lesson(lessons / f"{LESSON}.toml", solutions)
    assert lesson.kind is LessonKind.PROJECT and lesson.project is not None
    assert lesson.project.modules == ("model_def.py", "train.py", "run_training.py")
    assert lesson.project.entry == "run_training.py"
    assert lesson.expect.file == "train.py" and lesson.expect.line == 13  # where the skeleton fails, as it was
    assert modules(lesson.starter)["train.py"] == train
    assert list(modules(lesson.solution)) == list(lesson.project.modules)
    assert "import train" in modules(lesson.solution)["run_training.py"]


def test_a_module_is_renamed_everywhere_and_a_delete_can_be_undone(lessons: Path) -> None:
    at = open_new_project(studio())
    at.text_input(key=RENAME).input("program.py")
    click(at, "module-studio-rename")  # train.py, the entry shown
    assert at.session_state[PICK] == "program.py"
    for name in ("starter", "solution"):
        assert list(modules(getattr(draft(at), name))) == ["model_def.py", "program.py"]
    toml = draft(at).toml
    assert 'entry = "program.py"' in toml and 'file = "program.py"                # the module it fails in' in toml
    assert "The lesson file is valid." in texts(at)

    # The entry cannot be deleted; another module can, and Undo brings it back.
    assert at.button(key="module-studio-delete").disabled
    at.segmented_control(key=PICK).set_value("model_def.py").run()
    assert not at.button(key="module-studio-delete").disabled
    before = (draft(at).starter, draft(at).solution)
    click(at, "module-studio-delete")
    assert list(modules(draft(at).starter)) == ["program.py"] and list(modules(draft(at).solution)) == ["program.py"]
    assert "Deleted model_def.py from the starter and the solution." in texts(at)
    click(at, "module-studio-undo")
    assert (draft(at).starter, draft(at).solution) == before
    assert "Undone: delete model_def.py." in texts(at) and "module-studio-undo" not in [b.key for b in at.button]

    # A header typed into a module splits it into two modules.
    at.segmented_control(key=PICK).set_value("program.py").run()
    program = modules(draft(at).starter)["program.py"]
    type_into(at, "starter", "program.py", program + "\n# ==> extra.py <==\nvalue = 1\n")
    assert list(modules(draft(at).starter)) == ["model_def.py", "program.py", "extra.py"]
    assert modules(draft(at).starter)["program.py"] == program
    at.run()
    assert list(modules(draft(at).starter)) == ["model_def.py", "program.py", "extra.py"]  # read once, not again
    assert "field solution_file" in texts(at)  # the solution lacks extra.py: the schema says so

    # Undo takes back a delete only while the texts are as it left them: after typing, it is gone.
    at.segmented_control(key=PICK).set_value("extra.py").run()
    click(at, "module-studio-delete")
    assert "module-studio-undo" in [b.key for b in at.button]
    type_into(at, "starter", "program.py", program + "print('done')\n")
    assert "module-studio-undo" not in [b.key for b in at.button]
    assert list(modules(draft(at).starter)) == ["model_def.py", "program.py"]


@pytest.mark.tf  # the skeleton trains on MNIST
@pytest.mark.needs("bubblewrap")  # the proofs run in the strict sandbox
def test_a_project_lesson_written_in_the_studio_proves_itself_and_is_published(lessons: Path) -> None:
    at = open_new_project(studio())
    at.segmented_control(key=PICK).set_value("model_def.py").run()
    for name in ("starter", "solution"):
        source = modules(getattr(draft(at), name))["model_def.py"]
        hidden = source.replace("(784,)), ", '(784,)), layers.Dense(32, activation="relu"), ')
        type_into(at, name, "model_def.py", hidden)
    click(at, "studio-prove")
    wait_for_proofs(at, timeout=600)
    run = at.session_state["studio"]["run"]
    assert run.passed, [f"{p.item}: {p.detail}" for p in run.proofs if not p.passed] or run.problem
    starter = next(p for p in run.proofs if p.item == "starter")
    assert "got NameError for 'model' on line 13 in train.py" in starter.detail
    assert "proofs passed: this version can be published" in texts(at)
    click(at, "studio-publish")
    lesson = load_lesson(lessons / f"{LESSON}.toml", lessons.parent / "solutions")
    assert lesson.project is not None and lesson.project.modules == ("model_def.py", "train.py")
    assert 'Dense(32, activation="relu")' in modules(lesson.solution)["model_def.py"]


def test_the_toml_is_edited_in_place_its_comments_kept() -> None:
    from tutor.authoring.modules import ModuleError, project_entry, set_entry

    toml = 'id = "x"\n\n[project]\n# which runs\nentry = "train.py"   # the program\n\n[limits]\ntime_s = 5\n'
    assert set_entry(toml, "run.py") == toml.replace('"train.py"   #', '"run.py"   #')
    assert set_entry('id = "x"\n', "run.py") == 'id = "x"\n\n[project]\nentry = "run.py"\n'  # the table added
    assert project_entry(set_entry('id = "x"\n[project]\n[limits]\n', "run.py")) == "run.py"  # the key added
    with pytest.raises(ModuleError):
        set_entry('id = "x\n[project]\nentry = "a.py"\n', "run.py")  # a TOML that does not read is not guessed at
