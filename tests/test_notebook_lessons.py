"""Notebook lessons (kind = "notebook"): the shipped ones load with their session and cells; every mistake in
the notebook fields names the file and the field; ``lessons --json`` lists files by role; ``new-lesson --kind
notebook`` writes a skeleton that loads; ``notebook export`` and ``notebook import`` round-trip through the
command line, and a broken .ipynb is refused with a reason, not a traceback. (No TensorFlow here: the
shipped lessons' grading is run by ``tutor grade``/``check-lessons``.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.lessons.cells import CellKind, code_cells, locate_line, parse_cells, runnable_script
from tutor.lessons.kinds import LessonKind, SessionStep
from tutor.lessons.lesson import LessonError, load_lesson, load_lessons
from tutor.lessons.schema import lesson_json_schema

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_IDS = ("notebook-restart", "notebook-cell-order", "notebook-import-cell")

TOML = """
schema_version = 1
id = "demo"
kind = "notebook"
title = "Demo"
summary = "A demo lesson."
explanation = "Explain."
why = "Why."
hints = ["one"]

[starter_fails_with]
error = "NameError"
name = "model"
cell = 2
line = 1

[notebook]
session = ["restart", 1, 2]

[[checks]]
kind = "no_name_error"
"""
STARTER = "# %% [markdown]\n# Text.\n\n# %%\nx = 1\n\n# %%\nmodel.fit()\n"
SOLUTION = "# %%\nx = 1\n\n# %%\nmodel = 1\n"
NO_TABLE = TOML.replace('[notebook]\nsession = ["restart", 1, 2]\n', "")


def write_notebook_lesson(folder: Path, toml: str = TOML, starter: str = STARTER, solution: str = SOLUTION) -> Path:
    (folder / "lessons").mkdir(exist_ok=True)
    (folder / "solutions").mkdir(exist_ok=True)
    (folder / "lessons" / "demo.py").write_text(starter)
    (folder / "solutions" / "demo.py").write_text(solution)
    path = folder / "lessons" / "demo.toml"
    path.write_text(toml)
    return path


def test_shipped_notebook_lessons_load_with_their_session_and_cells() -> None:
    lesson_set = load_lessons(ROOT / "lessons", ROOT / "solutions")
    assert [str(e) for e in lesson_set.errors] == []
    notebooks = {lesson.id: lesson for lesson in lesson_set.lessons if lesson.kind is LessonKind.NOTEBOOK}
    assert set(notebooks) == set(NOTEBOOK_IDS)
    assert [notebooks[i].order for i in NOTEBOOK_IDS] == [6, 7, 8]
    restart = notebooks["notebook-restart"]
    assert restart.notebook is not None and restart.notebook.session == (SessionStep.RESTART, 1, 2, 3)
    assert restart.notebook.since_last_restart() == (1, 2, 3)
    assert (restart.expect.cell, restart.expect.line, restart.expect.name) == (3, 1, "model")
    for lesson in notebooks.values():
        cells = code_cells(lesson.starter_cells)
        failing = cells[lesson.expect.cell - 1]
        assert failing.lines[lesson.expect.line - 1].strip(), lesson.id  # the line the error is on has code
        assert lesson.expect.name in failing.lines[lesson.expect.line - 1], lesson.id
        assert runnable_script(lesson.starter) == lesson.starter  # plain Python: runs as a script as it is
        assert lesson.starter.count("\n") == lesson.solution.count("\n") or lesson.id == "notebook-cell-order"
    script_lesson = lesson_set.get("assign-the-model")
    assert script_lesson is not None and script_lesson.kind is LessonKind.SCRIPT and script_lesson.notebook is None


def test_a_notebook_lesson_loads(tmp_path: Path) -> None:
    lesson = load_lesson(write_notebook_lesson(tmp_path), tmp_path / "solutions")
    assert lesson.kind is LessonKind.NOTEBOOK
    assert lesson.notebook is not None and lesson.notebook.session == (SessionStep.RESTART, 1, 2)
    assert lesson.expect.cell == 2
    assert [c.kind for c in lesson.starter_cells] == [CellKind.MARKDOWN, CellKind.CODE, CellKind.CODE]
    assert locate_line(lesson.starter_cells, 8) == (2, 1)
    assert [s.role for s in lesson.sources] == ["starter", "solution"]


BROKEN = [
    ("kind", TOML.replace('kind = "notebook"', 'kind = "notebok"'), "did you mean 'notebook'"),
    ("notebook", TOML.replace('[notebook]\nsession = ["restart", 1, 2]\n', ""), "is missing"),
    ("notebook", TOML.replace('kind = "notebook"\n', "").replace("cell = 2\n", ""), "only for notebook lessons"),
    ("starter_fails_with.cell", NO_TABLE.replace('kind = "notebook"\n', ""), "only for notebook"),
    ("starter_fails_with.cell", TOML.replace("cell = 2\n", ""), "is missing"),
    ("starter_fails_with.cell", TOML.replace("cell = 2", "cell = 0"), "at least 1"),
    ("starter_fails_with.cell", TOML.replace("cell = 2", "cell = 5"), "no code cell 5 (it has 2)"),
    (
        "starter_fails_with.cell",
        TOML.replace('["restart", 1, 2]', "[2, 1]")
        .replace("cell = 2", "cell = 1")
        .replace("session = [2, 1]", "session = [2]"),
        "not in notebook.session",
    ),  # fmt: skip
    ("starter_fails_with.line", TOML.replace("line = 1", "line = 2"), "which has 1 line(s)"),
    ("notebook.session", TOML.replace('["restart", 1, 2]', "[]"), "give at least one"),
    ("notebook.session", TOML.replace('["restart", 1, 2]', '[1, 2, "restart"]'), "must end with a code cell"),
    ("notebook.session[1]", TOML.replace('["restart", 1, 2]', '[1, "restrat", 2]'), 'or "restart"'),
    ("notebook.session[0]", TOML.replace('["restart", 1, 2]', "[0, 2]"), "is 0"),
    ("notebook.session[0]", TOML.replace('["restart", 1, 2]', '["1", 2]'), 'is "1"'),
    ("notebook.session[1]", TOML.replace('["restart", 1, 2]', "[1, 7, 2]"), "no code cell 7"),
    ("notebook.sesion", TOML.replace("session =", "sesion ="), "did you mean 'session'"),
]


@pytest.mark.parametrize(("field", "toml", "words"), BROKEN, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BROKEN)])
def test_every_notebook_mistake_names_the_file_and_the_field(tmp_path: Path, field: str, toml: str, words: str) -> None:
    path = write_notebook_lesson(tmp_path, toml)
    with pytest.raises(LessonError) as caught:
        load_lesson(path, tmp_path / "solutions")
    assert f"{path}: field '{field}': " in str(caught.value)
    problem = dict(caught.value.problems)[field]
    assert words in problem


@pytest.mark.parametrize(
    ("field", "starter", "solution", "words"),
    [
        ("starter_file", "# %% [markdown]\n# only words\n", SOLUTION, "has no code cell"),
        ("solution_file", STARTER, "# %% [markdown]\n# text\nmodel = 1\n# %%\nx = 1\n", "line 3 is in a markdown cell"),
    ],
)
def test_the_starter_and_solution_must_be_notebooks(
    tmp_path: Path, field: str, starter: str, solution: str, words: str
) -> None:
    path = write_notebook_lesson(tmp_path, starter=starter, solution=solution)
    with pytest.raises(LessonError) as caught:
        load_lesson(path, tmp_path / "solutions")
    assert f"{path}: field '{field}': " in str(caught.value) and words in str(caught.value)


def test_schema_has_the_notebook_fields() -> None:
    schema = lesson_json_schema()
    assert schema["$defs"]["LessonKind"]["enum"] == ["script", "notebook", "project"]
    assert "notebook" in schema["properties"] and "kind" in schema["properties"]
    assert "cell" in schema["$defs"]["StarterFailsWith"]["properties"]
    items = schema["$defs"]["NotebookTable"]["properties"]["session"]["items"]
    assert {"enum": ["restart"]} in items["anyOf"]


def test_lessons_json_lists_files_by_role_and_the_broken_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    write_notebook_lesson(tmp_path)
    (tmp_path / "lessons" / "broken.toml").write_text('schema_version = 1\nid = "broken"\nkind = "notebook"\n')
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(tmp_path / "lessons"))
    monkeypatch.setenv("TUTOR_SOLUTIONS_DIR", str(tmp_path / "solutions"))
    monkeypatch.chdir(tmp_path)
    assert main(["lessons", "--json"]) == 1  # a broken file: as the plain listing
    listing = json.loads(capsys.readouterr().out)
    assert listing["lessons"] == [
        {
            "id": "demo",
            "kind": "notebook",
            "title": "Demo",
            "order": 100,
            "cause": None,
            "files": [
                {"role": "lesson", "path": "lessons/demo.toml"},
                {"role": "starter", "path": "lessons/demo.py"},
                {"role": "solution", "path": "solutions/demo.py"},
            ],
        }
    ]
    [broken] = listing["broken"]
    assert broken["file"] == "lessons/broken.toml"
    assert {"field": "title", "problem": "is missing"} in broken["problems"]


def test_lessons_json_of_the_shipped_lessons_names_fixtures(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["lessons", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["broken"] == []
    by_id = {lesson["id"]: lesson for lesson in listing["lessons"]}
    assert by_id["notebook-restart"]["kind"] == "notebook" and by_id["assign-the-model"]["kind"] == "script"
    project = by_id["model-in-another-module"]
    assert (project["kind"], project["cause"], project["entry"]) == ("project", "other-module", "train.py")
    assert project["modules"] == ["model_def.py", "train.py"]
    assert {"role": "fixture", "path": "lessons/fixtures/save_mnist_model.py"} in by_id["load-or-build"]["files"]
    main(["lessons"])
    assert re.search(r"^notebook-restart +notebook After a restart", capsys.readouterr().out, re.MULTILINE)


def test_new_lesson_kind_notebook_writes_a_notebook_skeleton_that_loads(tmp_path: Path, capsys) -> None:
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    args = [
        "new-lesson",
        "keep-it",
        "--kind",
        "notebook",
        "--lessons-dir",
        str(lessons),
        "--solutions-dir",
        str(solutions),
    ]
    assert main(args) == 0
    assert "wrote   " in capsys.readouterr().out
    lesson = load_lesson(lessons / "keep-it.toml", solutions)
    assert lesson.kind is LessonKind.NOTEBOOK and lesson.notebook is not None
    cells = code_cells(lesson.starter_cells)
    assert lesson.notebook.session == (1, 2, 3) and lesson.expect.cell == 3 == len(cells)
    assert cells[2].lines[0].startswith("model.fit(")  # where the NameError happens, as the TOML says
    assert "build_model()  # the bug" in cells[1].source and "model = build_model()" in lesson.solution
    assert [c.number for c in code_cells(lesson.solution_cells)] == [1, 2, 3]
    compile(lesson.starter, "main.py", "exec")
    assert main(args) == 2  # never overwrites
    assert "not overwriting" in capsys.readouterr().err


def test_new_lesson_rejects_an_unknown_kind(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["new-lesson", "keep-it", "--kind", "notebok", "--lessons-dir", str(tmp_path)])
    assert "invalid choice: 'notebok'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def tutor(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tutor", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_export_then_import_through_the_command_line_round_trips(tmp_path: Path) -> None:
    exported = tmp_path / "restart.ipynb"
    done = tutor("notebook", "export", "notebook-restart", "-o", str(exported))
    assert done.returncode == 0, done.stderr
    stdout = tutor("notebook", "export", "notebook-restart")
    assert stdout.returncode == 0 and json.loads(stdout.stdout) == json.loads(exported.read_text())
    solution = tutor("notebook", "export", "notebook-restart", "--solution")
    assert "model = build_model()" in "".join(json.loads(solution.stdout)["cells"][2]["source"])
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    folders = ["--lessons-dir", str(lessons), "--solutions-dir", str(solutions)]
    done = tutor("notebook", "import", str(exported), "--id", "restart-copy", *folders)
    assert done.returncode == 0, done.stderr
    assert "loads (4 code cells)" in done.stdout
    original = (ROOT / "lessons" / "notebook-restart.py").read_text()
    assert (lessons / "restart-copy.py").read_text() == original  # byte for byte
    assert (solutions / "restart-copy.py").read_text() == original
    lesson = load_lesson(lessons / "restart-copy.toml", solutions)
    assert lesson.kind is LessonKind.NOTEBOOK
    assert lesson.notebook is not None and lesson.notebook.session == (1, 2, 3, 4) and lesson.expect.cell == 4
    again = tutor("notebook", "import", str(exported), "--id", "restart-copy", *folders)
    assert again.returncode == 2 and "not overwriting" in again.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not json at all", "is not JSON"),
        (b'{"nbformat": 4, "nbformat_minor": 4, "cells": []}', "is not a valid notebook"),
        (json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": []}).encode(), "has no code cell"),
        (b"{" + b" " * 1_100_000 + b"}", "at most 1,000,000"),
    ],
    ids=["not-json", "invalid", "no-code-cell", "too-big"],  # (a 1 MB id would be in the child's environment)
)
def test_import_refuses_a_broken_notebook_with_a_reason(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    lessons = tmp_path / "lessons"
    done = tutor(
        "notebook", "import", str(path), "--id", "bad", "--lessons-dir", str(lessons), "--solutions-dir", str(lessons)
    )
    assert done.returncode == 2
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not lessons.exists() or list(lessons.iterdir()) == []  # nothing half-written


def test_export_refuses_a_script_lesson_and_an_unknown_id() -> None:
    script = tutor("notebook", "export", "assign-the-model")
    assert script.returncode == 2 and "is a script lesson, not a notebook lesson" in script.stderr
    unknown = tutor("notebook", "export", "no-such-lesson")
    assert unknown.returncode == 2 and "notebook-restart" in unknown.stderr


def test_import_of_a_bad_id_or_a_missing_file(tmp_path: Path) -> None:
    done = tutor("notebook", "import", str(tmp_path / "absent.ipynb"), "--id", "x", "--lessons-dir", str(tmp_path))
    assert done.returncode == 2 and "cannot read" in done.stderr
    good = tmp_path / "good.ipynb"
    good.write_text(tutor("notebook", "export", "notebook-cell-order").stdout)
    done = tutor("notebook", "import", str(good), "--id", "Bad Id", "--lessons-dir", str(tmp_path))
    assert done.returncode == 2 and "is not a lesson id" in done.stderr


def test_a_notebook_lesson_text_is_the_parsed_cells_joined() -> None:
    for lesson_id in NOTEBOOK_IDS:
        for folder in ("lessons", "solutions"):
            text = (ROOT / folder / f"{lesson_id}.py").read_text()
            cells = parse_cells(text)
            assert cells[0].kind is CellKind.MARKDOWN
            from tutor.lessons.cells import join_cells

            assert join_cells(cells) == text


def test_a_notebook_lesson_travels_in_a_pack_and_loads_as_one() -> None:
    from tutor.authoring.studio import check_draft
    from tutor.lessons.packs import export_pack, read_pack

    (draft,) = read_pack(export_pack(["notebook-cell-order"])).drafts()
    checked = check_draft(draft)
    assert checked.problems == []
    assert checked.lesson.kind is LessonKind.NOTEBOOK
    assert [cell.number for cell in code_cells(checked.lesson.starter_cells)] == [1, 2, 3]
    assert checked.lesson.notebook.session == (1, 2)
