"""Proved before published (tutor/authoring/publishing.py): learners keep the last proved version of a lesson
until a new one passes its proofs; proof results survive a restart; shipped lessons are live at once.

The proofs themselves (tutor/authoring/proofs.py) are tested in test_lesson_proofs.py against real sandboxes;
here a stand-in prover decides, so each test controls which version passes and when."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.test_progress import run_once, verdict
from tutor.authoring.new_lesson import write_skeleton
from tutor.authoring.proofs import Proof
from tutor.authoring.publishing import LessonLibrary, ProofState, ProofStore, read_shipped
from tutor.lessons.files import content_hash
from tutor.lessons.lesson import load_lessons
from tutor.store.class_report import build_class_grid
from tutor.store.db import IdentitySource, open_database
from tutor.store.progress import sign_in_learner

ROOT = Path(__file__).resolve().parent.parent


class StandInProver:
    """Passes a lesson unless its solution contains BROKEN; can be held to observe 'proving'."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, lesson, report) -> list[Proof]:
        self.calls.append(lesson.id)
        assert self.gate.wait(10)
        ok = "BROKEN" not in lesson.solution
        proofs = [Proof(lesson.id, "solution", ok, "passes" if ok else "the solution fails: NameError on line 3"),
                  Proof(lesson.id, "starter", True, "fails as intended")]  # fmt: skip
        for proof in proofs:
            report(proof)
        return proofs


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_VAR_DIR", str(tmp_path / "var"))
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    write_skeleton("keep-the-model", lessons, solutions)
    return lessons, solutions


def make_library(folders, prover, store=None, shipped=None) -> LessonLibrary:
    lessons, solutions = folders
    store = store or ProofStore(lessons.parent / "var" / "proofs.json")
    library = LessonLibrary(lessons, solutions, store, prove=prover, shipped=shipped)
    library.refresh()
    return library


def edit_solution(folders, text: str) -> None:
    path = folders[1] / "keep-the-model.py"
    path.write_text(path.read_text() + text)


def live_solution(library: LessonLibrary) -> str:
    lesson = library.lesson_set().get("keep-the-model")
    assert lesson is not None, "learners lost the lesson"
    return lesson.solution


def test_a_new_lesson_is_hidden_until_proved_then_live(folders) -> None:
    prover = StandInProver()
    prover.gate.clear()
    library = make_library(folders, prover)
    assert library.lesson_set().get("keep-the-model") is None  # not proved yet: learners do not see it
    assert library.status("keep-the-model").state in (ProofState.WAITING, ProofState.PROVING)
    prover.gate.set()
    assert library.wait_idle(10)
    assert library.lesson_set().get("keep-the-model") is not None
    status = library.status("keep-the-model")
    assert status.state is ProofState.PROVED and status.live_at and status.done == 2
    library.close()


def test_a_broken_edit_leaves_learners_on_the_proved_version(folders) -> None:
    prover = StandInProver()
    library = make_library(folders, prover)
    assert library.wait_idle(10)
    proved = live_solution(library)

    edit_solution(folders, "\n# BROKEN: an edit whose proofs fail\n")
    library.refresh()
    assert library.wait_idle(10)
    assert live_solution(library) == proved  # learners keep the proved version
    restarted = make_library(folders, StandInProver())  # and after a restart (the failure is remembered)
    assert live_solution(restarted) == proved and restarted.status("keep-the-model").state is ProofState.FAILED
    restarted.close()
    status = library.status("keep-the-model")
    assert status.state is ProofState.FAILED
    assert status.failures == [("solution", "the solution fails: NameError on line 3")]
    assert status.live_hash != status.newest_hash

    # A TOML that does not load at all: learners still keep the proved version; the teacher sees why.
    toml = folders[0] / "keep-the-model.toml"
    toml.write_text(toml.read_text().replace("[limits]", "[limit]"))
    library.refresh()
    assert live_solution(library) == proved
    status = library.status("keep-the-model")
    assert status.state is ProofState.BROKEN and "limit" in str(status.error)
    library.close()

    # After a restart too: the proved version was kept (var/lesson-versions), the broken file is not served.
    restarted = make_library(folders, StandInProver())
    assert live_solution(restarted) == proved
    assert restarted.status("keep-the-model").state is ProofState.BROKEN
    restarted.close()


def test_a_fixed_edit_becomes_live_after_its_proofs_pass(folders) -> None:
    prover = StandInProver()
    library = make_library(folders, prover)
    assert library.wait_idle(10)
    old = live_solution(library)

    prover.gate.clear()
    edit_solution(folders, "\n# a better comment\n")
    library.refresh()
    assert live_solution(library) == old  # while the new version is proved, the old one stays live
    assert library.status("keep-the-model").state in (ProofState.WAITING, ProofState.PROVING)
    prover.gate.set()
    assert library.wait_idle(10)
    assert live_solution(library).endswith("# a better comment\n")
    assert library.status("keep-the-model").state is ProofState.PROVED
    library.close()


def test_a_restart_does_not_prove_unchanged_lessons_again(folders) -> None:
    prover = StandInProver()
    library = make_library(folders, prover)
    assert library.wait_idle(10)
    library.close()
    assert prover.calls == ["keep-the-model"]

    again = StandInProver()
    restarted = make_library(folders, again)  # same proofs.json
    assert restarted.lesson_set().get("keep-the-model") is not None  # live at once
    assert restarted.wait_idle(10) and again.calls == []
    restarted.close()


def test_shipped_lessons_are_live_at_once_and_a_change_to_one_is_proved(folders) -> None:
    lesson = load_lessons(*folders).get("keep-the-model")
    prover = StandInProver()
    prover.gate.clear()
    library = make_library(folders, prover, shipped={content_hash(lesson)})
    assert library.lesson_set().get("keep-the-model") is not None
    assert library.status("keep-the-model").state is ProofState.SHIPPED
    edit_solution(folders, "\n# changed on this server\n")
    library.refresh()
    assert library.status("keep-the-model").state in (ProofState.WAITING, ProofState.PROVING)
    assert library.status("keep-the-model").live_state is ProofState.SHIPPED
    prover.gate.set()
    assert library.wait_idle(10)
    assert library.status("keep-the-model").state is ProofState.PROVED
    library.close()


def test_progress_under_a_lesson_id_survives_versions(folders, tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'progress.sqlite3'}")
    learner = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "code")
    library = make_library(folders, StandInProver())
    assert library.wait_idle(10)
    run_once(db, learner.id, "keep-the-model", "model = build_model()", 1000.0, verdict(True, lesson="keep-the-model"))

    edit_solution(folders, "\n# version 2\n")
    library.refresh()
    assert library.wait_idle(10)
    ids = [lesson.id for lesson in library.lesson_set().lessons]
    assert live_solution(library).endswith("# version 2\n")
    assert build_class_grid(db, ids).cell(learner.id, "keep-the-model").passed
    library.close()


def test_learners_runs_go_first(folders) -> None:
    busy = threading.Event()
    busy.set()
    prover = StandInProver()
    lessons, solutions = folders
    library = LessonLibrary(lessons, solutions, ProofStore(lessons.parent / "proofs.json"), prove=prover,
                            busy=busy.is_set, shipped=set())  # fmt: skip
    library.refresh()
    assert not library.wait_idle(1.5)
    assert prover.calls == []  # nothing proved while learners' runs wait for a sandbox
    busy.clear()
    assert library.wait_idle(10) and prover.calls == ["keep-the-model"]
    library.close()


def test_shipped_manifest_matches_the_lessons() -> None:
    """lessons/shipped.json lists the hashes CI proves: after editing a lesson, run
    `python -m tutor ship-lessons` (and check-lessons) so a fresh install trusts the new version."""
    lesson_set = load_lessons()
    assert not lesson_set.errors
    shipped = read_shipped(ROOT / "lessons")
    stale = [lesson.id for lesson in lesson_set.lessons if content_hash(lesson) not in shipped]
    assert not stale, f"lessons changed since lessons/shipped.json was written: {stale}"


@pytest.mark.tf
def test_a_new_lesson_is_proved_in_real_sandboxes_in_the_background(folders) -> None:
    """The default prover: check-lessons' proofs, run by the library's own thread."""
    lessons, solutions = folders
    store = ProofStore(lessons.parent / "var" / "proofs.json")
    library = LessonLibrary(lessons, solutions, store, shipped=set())  # real prove_lesson
    library.refresh()
    assert library.lesson_set().get("keep-the-model") is None
    assert library.wait_idle(600)
    status = library.status("keep-the-model")
    assert status.state is ProofState.PROVED, status.failures
    assert status.done == status.total == 5  # text, solution, starter, one wrong variant, one claim
    assert library.lesson_set().get("keep-the-model") is not None
    library.close()
