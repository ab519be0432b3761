"""A notebook lesson made from a Jupyter notebook proves itself (issue 20): an .ipynb as a teacher would bring it
(the studio's "Download starter .ipynb" of the notebook skeleton, outputs and ids as Jupyter writes them),
imported with tutor.authoring.new_lesson.import_notebook, its solution fixed and its TOML's TODOs filled in,
then proved on real sandboxes and a real kernel (tutor.authoring.proofs.prove_lessons)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tutor.authoring.new_lesson import import_notebook, skeleton_texts
from tutor.authoring.proofs import prove_lessons
from tutor.authoring.studio import check_draft, ipynb_of
from tutor.lessons.files import read_draft
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import load_lesson

pytestmark = [
    pytest.mark.tf,  # the cells import TensorFlow and train on MNIST
    pytest.mark.needs("bubblewrap"),  # the proofs run in the strict sandbox
]
LESSON = "from-jupyter"


def jupyter_notebook() -> bytes:
    """The skeleton's starter as an .ipynb, as Jupyter would have saved it after a run: cell ids, an output."""
    data = json.loads(ipynb_of(skeleton_texts(LESSON, LessonKind.NOTEBOOK)[1]))
    data["nbformat_minor"] = 5
    for number, cell in enumerate(data["cells"]):
        cell["id"] = f"cell-{number}"
        if cell["cell_type"] == "code":
            cell["execution_count"] = number
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["an old output\n"]}]
    return json.dumps(data).encode()


def test_a_lesson_imported_from_ipynb_proves_itself(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_VAR_DIR", str(tmp_path / "var"))
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    skeleton = import_notebook(jupyter_notebook(), "train.ipynb", LESSON, lessons, solutions)
    assert skeleton.lesson.kind is LessonKind.NOTEBOOK
    assert skeleton.lesson.notebook.session == (1, 2, 3)  # every code cell once, in order (the defaults)
    assert "an old output" not in skeleton.lesson.starter  # outputs are not carried

    # The teacher's edits: the solution keeps the model; the TOML says what the starter meets, and its checks.
    solution = solutions / f"{LESSON}.py"
    solution.write_text(solution.read_text().replace("build_model()  # the bug", "model = build_model()  # kept"))
    toml = lessons / f"{LESSON}.toml"
    text = toml.read_text().replace('title = "TODO: a short title"', 'title = "Brought from Jupyter"')
    text = text.replace('# name = "model"', 'name = "model"')
    text += '\n[[checks]]\nkind = "training_completed"\n\n[[checks]]\nkind = "model_was_trained"\n'
    toml.write_text(text)
    assert check_draft(read_draft(LESSON, lessons, solutions)).problems == []  # as the studio would check it
    lesson = load_lesson(toml, solutions)

    proofs = prove_lessons([lesson])
    assert all(proof.passed for proof in proofs), [f"{p.item}: {p.detail}" for p in proofs if not p.passed]
    starter = next(proof for proof in proofs if proof.item == "starter")
    assert "session [1, 2, 3] on a real kernel: expected NameError for 'model' in cell 3" in starter.detail
