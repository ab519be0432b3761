"""Every lesson proves itself with real TensorFlow in the sandbox: its fixtures are made there, the
solution passes every case, the starter fails with the intended error on the intended line, every listed
wrong variant fails, and every claim the lesson makes about Python or Keras holds on the installed
versions."""

from __future__ import annotations

import pytest

from tutor.authoring.proofs import (
    generated_files,
    prove_claim,
    prove_fixture,
    prove_solution,
    prove_starter,
    prove_wrong,
)
from tutor.lessons.lesson import load_lessons

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
