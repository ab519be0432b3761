"""Project lessons (kind = "project"): several modules in one text, each after a `# ==> name.py <==` header; the
entry module runs as the program with the others importable beside it; an error is placed in its module and
explained across modules; every mistake in a project lesson's fields names the file and the field."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tutor.grading.grade import grade_source
from tutor.grading.modules import explain_across_modules
from tutor.lessons.causes import NameCause
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import LessonError, load_lesson, load_lessons
from tutor.lessons.project import (
    join_modules,
    locate_module_line,
    module_problems,
    parse_modules,
    replace_module,
)
from tutor.sandbox.isolation import Limits
from tutor.sandbox.runner import RunRequest, run_program

ROOT = Path(__file__).resolve().parent.parent
TEXT = "# ==> a.py <==\nx = 1\n\n# ==> b.py <==\nimport a\nprint(a.x)\n"


def test_modules_read_and_join_back() -> None:
    modules = parse_modules(TEXT)
    assert [(m.name, m.source, m.first_line) for m in modules] == [
        ("a.py", "x = 1\n", 2),
        ("b.py", "import a\nprint(a.x)\n", 5),
    ]
    assert join_modules(modules) == TEXT
    assert locate_module_line(modules, 6) == ("b.py", 2)
    assert locate_module_line(modules, 4) is None  # a header is no module's line
    changed = replace_module(TEXT, "a.py", "x = 2\ny = 3\n")
    assert (
        parse_modules(changed)[0].source == "x = 2\ny = 3\n"
        and parse_modules(changed)[1].source == "import a\nprint(a.x)\n"
    )


def test_module_problems_name_each_mistake() -> None:
    assert module_problems(parse_modules(TEXT)) == []
    assert "text before its first module" in module_problems(parse_modules("x = 1\n" + TEXT))[0]
    assert "would hide" in module_problems(parse_modules("# ==> keras.py <==\nx = 1\n"))[0]
    assert "would hide" in module_problems(parse_modules("# ==> json.py <==\nx = 1\n"))[0]
    assert "module file name" in module_problems(parse_modules("# ==> my-model.py <==\nx = 1\n"))[0]
    assert "repeated: a.py" in module_problems(parse_modules(TEXT + "# ==> a.py <==\ny = 2\n"))[0]
    assert module_problems([]) and "has no modules" in module_problems([])[0]


def test_shipped_project_lesson_loads_with_its_modules() -> None:
    lesson = load_lessons().get("model-in-another-module")
    assert lesson is not None and lesson.kind is LessonKind.PROJECT
    assert lesson.project is not None and lesson.project.modules == ("model_def.py", "train.py")
    assert lesson.project.entry == "train.py" and lesson.expect.file == "train.py"
    assert lesson.cause is NameCause.OTHER_MODULE


@pytest.fixture
def project_lesson(tmp_path: Path) -> tuple[Path, Path]:
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    lessons.mkdir()
    solutions.mkdir()
    for name in ("model-in-another-module.toml", "model-in-another-module.py"):
        shutil.copy(ROOT / "lessons" / name, lessons / name)
    shutil.copy(ROOT / "solutions" / "model-in-another-module.py", solutions / "model-in-another-module.py")
    return lessons / "model-in-another-module.toml", solutions


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (('entry = "train.py"', 'entry = "run.py"'), "project.entry", "no module run.py"),
        (('[project]\nentry = "train.py"\n', ""), "project", "is missing"),
        (('file = "train.py"\n', ""), "starter_fails_with.file", "names the module that fails"),
        (('file = "train.py"', 'file = "other.py"'), "starter_fails_with.file", "no module other.py"),
        (("line = 11", "line = 40"), "starter_fails_with.line", "within train.py, which has 11 line(s)"),
        (('kind = "project"\n', ""), "project", "only for project lessons"),
        (('entry = "train.py"', 'entry = "train"'), "project.entry", "module file name"),
        (('cause = "other-module"', 'cause = "typo"'), "cause", ""),
    ],
)
def test_a_broken_project_lesson_names_the_file_and_the_field(project_lesson, edit, field, words) -> None:
    path, solutions = project_lesson
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(LessonError) as caught:
        load_lesson(path, solutions)
    problems = dict(caught.value.problems)
    assert field in problems, caught.value.problems
    assert words in problems[field]
    assert str(path) in str(caught.value)


def test_solution_with_other_modules_than_the_starter_is_refused(project_lesson) -> None:
    path, solutions = project_lesson
    solution = solutions / "model-in-another-module.py"
    solution.write_text(solution.read_text().replace("# ==> model_def.py <==", "# ==> model.py <=="))
    with pytest.raises(LessonError) as caught:
        load_lesson(path, solutions)
    assert "keep the same" in dict(caught.value.problems)["solution_file"]


# --- explained across modules (from the sources alone) -------------------------------------------------------

MODEL_DEF = """def build_model():
    model = "a model"
    return model


if __name__ == "__main__":
    model = build_model()
"""


def across(train: str, model_def: str = MODEL_DEF) -> dict | None:
    return explain_across_modules({"model_def.py": model_def, "train.py": train}, "train.py", "model")


def test_a_name_made_only_under_the_main_guard() -> None:
    found = across("from model_def import *\nmodel.fit()\n")
    assert found is not None and found["cause"] == NameCause.OTHER_MODULE
    assert 'only under `if __name__ == "__main__":` (line 7 of model_def.py)' in found["diagnosis"]
    assert "line 1 of train.py: `from model_def import *`" in found["diagnosis"]
    assert "model = build_model()" in found["fix"] and "model = build_model()" not in found["diagnosis"]
    assert {b["place"] for b in found["bindings"]} == {"line 2 of model_def.py", "line 7 of model_def.py"}


def test_a_name_the_import_does_not_list() -> None:
    found = across("from model_def import build_model\nmodel.fit()\n", "def build_model():\n    pass\n\nmodel = 1\n")
    assert found is not None and "imports only `build_model` from it" in found["diagnosis"]
    assert "from model_def import build_model, model" in found["fix"]


def test_a_module_imported_whole() -> None:
    found = across("import model_def as md\nmodel.fit()\n", "model = 1\n")
    assert found is not None and "`md.model`" in found["diagnosis"] and "`md.model`" in found["fix"]


def test_a_module_never_imported() -> None:
    found = across("model.fit()\n", "model = 1\n")
    assert found is not None and "never imports `model_def`" in found["diagnosis"]


def test_a_name_local_to_a_function_of_another_module() -> None:
    found = across(
        "from model_def import build_model\nbuild_model()\nmodel.fit()\n",
        "def build_model():\n    model = 1\n    return model\n",
    )
    assert found is not None and "only inside its function `build_model()`" in found["diagnosis"]
    assert "`model = build_model()`" in found["fix"]


def test_a_name_the_failing_module_makes_itself_is_left_to_its_own_analysis() -> None:
    assert across("model.fit()\nmodel = 2\n", "model = 1\n") is None
    assert explain_across_modules({"train.py": "model.fit()\n"}, "train.py", "model") is None


# --- the sandbox: modules importable, the error placed in its module ------------------------------------------


def test_a_project_runs_with_its_modules_and_the_error_is_placed_in_its_module() -> None:
    helper = b"def make():\n    return missing_thing\n"
    program = "import helper\nprint('start')\nhelper.make()\n"
    request = RunRequest(
        program, {"helper.py": helper}, Limits(wall_s=60), program_name="train.py", modules=("helper.py",)
    )
    result = run_program(request)
    assert "start" in result.stdout
    error = result.error
    assert error is not None and error.type == "NameError" and error.name == "missing_thing"
    assert (error.file, error.line, error.function) == ("helper.py", 2, "make")
    assert 'File "train.py", line 3' in error.traceback and 'File "helper.py", line 2' in error.traceback


def test_without_modules_the_program_folder_is_not_importable() -> None:
    """A plain lesson's case files stay data: a case file named like a module is not imported by accident."""
    request = RunRequest("import helper\n", {"helper.py": b"x = 1\n"}, Limits(wall_s=60))
    result = run_program(request)
    assert result.error is not None and result.error.type == "ModuleNotFoundError"


@pytest.mark.tf
def test_the_project_lessons_starter_is_explained_across_modules_in_grade_json() -> None:
    lesson = load_lessons().get("model-in-another-module")
    verdict = grade_source(lesson, lesson.starter)
    assert not verdict.passed and not verdict.attempt
    error = verdict.cases[0].result.error
    assert (error.file, error.line, error.place) == ("train.py", 11, "line 11 of train.py")
    assert error.analysis["cause"] == NameCause.OTHER_MODULE
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["cases"][0]["result"]["error"]["file"] == "train.py"


def test_a_project_lesson_travels_in_a_pack_and_loads_as_one() -> None:
    from tutor.authoring.studio import check_draft
    from tutor.lessons.packs import export_pack, read_pack

    (draft,) = read_pack(export_pack(["model-in-another-module"])).drafts()
    checked = check_draft(draft)
    assert checked.problems == []
    lesson = checked.lesson
    assert lesson.kind is LessonKind.PROJECT and lesson.project.entry == "train.py"
    assert [module.name for module in lesson.starter_modules] == ["model_def.py", "train.py"]
    assert lesson.cause is NameCause.OTHER_MODULE and lesson.expect.file == "train.py"


def test_the_lesson_list_is_ordered_by_how_often_people_meet_each_cause_and_says_so() -> None:
    from streamlit.testing.v1 import AppTest

    from tests.test_app import texts
    from tutor.lessons.causes import CAUSES_BY_FREQUENCY, frequency_rank

    lessons = load_lessons().lessons
    ranks = [frequency_rank(lesson.cause) for lesson in lessons]
    assert ranks == sorted(ranks) and lessons[0].cause is CAUSES_BY_FREQUENCY[0]
    assert lessons[-1].cause is None  # a lesson without a cause comes last
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    page = texts(at)
    assert "how often people meet each cause of this error in public questions" in page
    assert "Project of several files (model_def.py, train.py) · cause: made in another module" in page
    assert "Notebook · cause: notebook cells run out of order or not run" in page
    assert "Script · cause: never imported" in page
    # numbered in the list's order, not by each file's `order`
    links = [link.label for link in at.get("page_link")]
    numbered = [label for label in links if re.match(r"^\*\*\d+\. ", label)]
    assert numbered[0].startswith(f"**1. {lessons[0].title}") and numbered[-1].startswith(f"**{len(lessons)}. ")
