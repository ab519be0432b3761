"""Every lesson proves itself with real TensorFlow in the sandbox: its fixtures are made there, the
solution passes every case, the starter fails with the intended error on the intended line, every listed
wrong variant fails, and every claim the lesson makes about Python or Keras holds on the installed
versions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.test_lessons import GOOD, write_lesson
from tutor.authoring.new_lesson import write_skeleton
from tutor.authoring.proofs import (
    fix_lines,
    generated_files,
    prove_claim,
    prove_fixture,
    prove_lessons,
    prove_solution,
    prove_starter,
    prove_text,
    prove_wrong,
)
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import load_lesson, load_lessons

LESSONS = load_lessons().lessons


def proofs():
    for lesson in LESSONS:
        for case_file in generated_files(lesson):
            yield pytest.param(prove_fixture, lesson, (case_file,), id=f"{lesson.id}:fixture:{case_file.where}")
        yield pytest.param(prove_solution, lesson, (), id=f"{lesson.id}:solution")
        yield pytest.param(prove_starter, lesson, (), id=f"{lesson.id}:starter")
        for variant in lesson.wrong:
            yield pytest.param(prove_wrong, lesson, (variant.id,), id=f"{lesson.id}:wrong:{variant.id}")
        for claim in lesson.claims:
            yield pytest.param(prove_claim, lesson, (claim,), id=f"{lesson.id}:claim:{claim.id}")


@pytest.mark.tf
@pytest.mark.parametrize(("prove", "lesson", "args"), list(proofs()))
def test_lesson_proves_itself(prove, lesson, args) -> None:
    proof = prove(lesson, *args)
    assert proof.passed, proof.detail


# --- teach before telling (issue 22): the text before the first run never states the fix -----------------------


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_shipped_text_before_the_first_run_states_no_fix(lesson) -> None:
    proof = prove_text(lesson)
    assert proof.passed, proof.detail
    assert lesson.why.strip()


def demo(tmp_path: Path, text: str = GOOD, solution: str = "model = 1  # keep it\n"):
    path = write_lesson(tmp_path, text)
    (tmp_path / "solutions" / "demo.py").write_text(solution)
    return load_lesson(path, tmp_path / "solutions")


def test_an_explanation_that_quotes_the_solution_line_fails(tmp_path: Path) -> None:
    lesson = demo(tmp_path, GOOD.replace('explanation = "Explain."', 'explanation = "Fix it: `model=1`."'))
    assert [line.text for line in fix_lines(lesson)] == ["model = 1"]  # the comment is not part of the line
    proof = prove_text(lesson)
    assert proof.item == "text" and not proof.passed
    assert proof.detail.startswith(f"{lesson.path}: field 'explanation' states the fix before the first run: ")
    assert "`model = 1` (a line the solution adds or changes)" in proof.detail
    # A code block, the summary and the title are read before the first run too; whitespace does not matter.
    block = 'explanation = """\nRun it.\n\n```python\n    model  =  1\n```\n"""'
    assert "field 'explanation'" in prove_text(demo(tmp_path, GOOD.replace('explanation = "Explain."', block))).detail
    summary = GOOD.replace('summary = "A demo lesson."', 'summary = "Write `model = 1`."')
    assert "field 'summary'" in prove_text(demo(tmp_path, summary)).detail


def test_text_that_only_points_at_the_error_passes(tmp_path: Path) -> None:
    """Lines the starter has already (`model.fit()`), a longer line that merely starts like no fix line, and a
    short fix line inside prose are not the fix stated."""
    text = "Run it: `model.fit()` fails. Which model = ? Read the error first."
    lesson = demo(tmp_path, GOOD.replace('explanation = "Explain."', f'explanation = "{text}"'))
    proof = prove_text(lesson)
    assert proof.passed, proof.detail


def test_a_lesson_without_a_why_fails(tmp_path: Path) -> None:
    proof = prove_text(dataclasses.replace(demo(tmp_path), why=" "))
    assert not proof.passed and f"{tmp_path / 'lessons' / 'demo.toml'}: field 'why' is empty" in proof.detail


@pytest.mark.parametrize(("kind", "where"), [(LessonKind.PROJECT, "train.py"), (LessonKind.NOTEBOOK, "cell 2")])
def test_the_fix_is_found_per_module_and_per_cell(tmp_path: Path, kind: LessonKind, where: str) -> None:
    skeleton = write_skeleton("keep-the-model", tmp_path / "lessons", tmp_path / "solutions", kind)
    assert prove_text(skeleton.lesson).passed  # the skeleton itself teaches before telling
    path = skeleton.lesson.path
    path.write_text(path.read_text().replace("Run the starter", "Write `model = build_model()`, then run the starter"))
    proof = prove_text(load_lesson(path, tmp_path / "solutions"))
    assert not proof.passed
    assert f"`model = build_model()` (a line the solution adds or changes in {where})" in proof.detail


def test_a_line_the_other_module_has_is_still_the_fix_in_this_one() -> None:
    """model-in-another-module: model_def.py has `model = build_model()` (under __main__); train.py gains it."""
    lesson = next(lesson for lesson in LESSONS if lesson.id == "model-in-another-module")
    told = dataclasses.replace(lesson, explanation=lesson.explanation + "\nIt has `model = build_model()`.")
    assert "in train.py" in prove_text(told).detail


def test_a_cell_moved_with_its_title_is_no_fix_line() -> None:
    lesson = next(lesson for lesson in LESSONS if lesson.id == "notebook-cell-order")
    assert fix_lines(lesson) == []


def test_check_lessons_runs_the_text_proof_first(monkeypatch) -> None:
    """prove_lessons (check-lessons, the studio's Prove, the app's background proofs) runs it for every lesson;
    it needs no sandbox, so it is reported before the lesson's slower proofs."""
    import tutor.authoring.proofs as proofs_module
    from tutor.authoring.publishing import count_proofs

    for name in ("prove_fixture", "prove_solution", "prove_starter", "prove_wrong", "prove_claim"):
        monkeypatch.setattr(
            proofs_module, name, lambda lesson, *args, name=name: proofs_module.Proof(lesson.id, name, True, "")
        )
    lesson = LESSONS[0]
    told = dataclasses.replace(lesson, explanation=f"Write `{fix_lines(lesson)[0].text}`.")
    proofs = prove_lessons([told], jobs=1)
    assert proofs[0].item == "text" and not proofs[0].passed
    assert len(proofs) == count_proofs(told)  # the studio's progress bar counts it too
