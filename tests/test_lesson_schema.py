"""The strict lesson schema: every bad input a teacher can write gets an error naming the file and the
field, and every message template that loads formats on every path of its check."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from tests.test_lessons import GOOD, write_lesson
from tutor.checks.judge import run_check
from tutor.checks.kinds import CHECK_KINDS, CheckSpec, Outcome, template_problem
from tutor.cli import main
from tutor.lessons.lesson import LessonError, load_lesson, load_lessons
from tutor.sandbox.results import ErrorInfo, FitInfo, LoadInfo, ModelInfo, RunResult, Termination

FULL = (
    GOOD
    + """
[limits]
time_s = 60

[[cases]]
id = "a"
title = "Case A"

[[cases.files]]
name = "data.txt"
content = "x"

[[cases.checks]]
kind = "training_completed"
min_epochs = 1

[[wrong]]
id = "w"
description = "d"
code = "print(1)"

[[claims]]
id = "c"
statement = "s"
code = "print(model)"
expect_error = "NameError"
expect_message = "name 'model'"

[[claims.files]]
name = "x.txt"
content = "x"
"""
)


def problems_of(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    path = write_lesson(tmp_path, text)
    with pytest.raises(LessonError) as caught:
        load_lesson(path, tmp_path / "solutions")
    assert str(path) in str(caught.value)
    return caught.value.problems


def test_the_full_example_loads(tmp_path: Path) -> None:
    lesson = load_lesson(write_lesson(tmp_path, FULL), tmp_path / "solutions")
    assert [case.id for case in lesson.cases] == ["a"]
    assert lesson.cases[0].checks[0].params == {"min_epochs": 1}
    assert lesson.claims[0].files[0].where == "claims[0].files[0]"


UNKNOWN_KEYS = [
    ("sumary", 'summary = "A demo lesson."', 'sumary = "A demo lesson."', "summary"),
    ("modelname", 'title = "Demo"', 'title = "Demo"\nmodelname = "net"', "model_name"),
    ("limit", "[limits]", "[limit]", "limits"),
    ("limits.time", "time_s = 60", "time = 60", "time_s"),
    ("starter_fails_with.lines", "line = 1", "lines = 1", "line"),
    ("checks[0].messge", 'kind = "no_name_error"', 'kind = "no_name_error"\nmessge = "x"', "message"),
    ("checks[1].treshold", "threshold = 0.5", "treshold = 0.5", "threshold"),
    ("cases[0].titel", 'title = "Case A"', 'titel = "Case A"', "title"),
    (
        "cases[0].files[0].contents",
        'content = "x"\n\n[[cases.checks]]',
        'contents = "x"\n\n[[cases.checks]]',
        "content",
    ),
    ("cases[0].checks[0].min_epoch", "min_epochs = 1", "min_epoch = 1", "min_epochs"),
    ("wrong[0].fail", 'code = "print(1)"', 'code = "print(1)"\nfail = ["no_name_error"]', "fails"),
    ("claims[0].expect_mesage", "expect_message =", "expect_mesage =", "expect_message"),
    ("claims[0].files[0].nam", 'name = "x.txt"', 'nam = "x.txt"', "name"),
]


@pytest.mark.parametrize(("field", "old", "new", "meant"), UNKNOWN_KEYS, ids=[u[0] for u in UNKNOWN_KEYS])
def test_unknown_keys_at_every_level(tmp_path: Path, field: str, old: str, new: str, meant: str) -> None:
    assert old in FULL
    problems = problems_of(tmp_path, FULL.replace(old, new, 1))
    assert problems[0][0] == field, problems
    assert f"did you mean '{meant}'?" in problems[0][1]
    # The misspelt key is the problem: the required key it stands for is not reported a second time.
    assert all(problem != "is missing" for _, problem in problems), problems


def test_a_key_below_the_wrong_table_is_explained(tmp_path: Path) -> None:
    text = FULL.replace('hints = ["one"]\n', "").replace("time_s = 60", 'time_s = 60\nhints = ["one"]')
    problems = problems_of(tmp_path, text)
    assert problems == [
        (
            "limits.hints",
            "`hints` is inside `[limits]`: in TOML every key below a [table] line belongs to that table. "
            "Move `hints` above `[limits]` (top-level keys go above the file's first [table] line)",
        )
    ]
    # In an array of tables: a [[cases]] key written after [[cases.files]].
    text = FULL.replace('title = "Case A"\n', "").replace(
        'content = "x"\n\n[[cases.checks]]', 'content = "x"\ntitle = "A"\n\n[[cases.checks]]'
    )
    (field, problem), *_ = problems_of(tmp_path, text)
    assert field == "cases[0].files[0].title"
    assert "Move `title` above `[[cases.files]]`, so that it belongs to `[[cases]]`" in problem


def test_why_is_required_and_not_blank(tmp_path: Path) -> None:
    """Issue 22: the why has a field of its own, shown with the first failing verdict; every lesson has one."""
    assert problems_of(tmp_path, FULL.replace('why = "Why."\n', "")) == [("why", "is missing")]
    assert problems_of(tmp_path, FULL.replace('why = "Why."', 'why = "  "')) == [("why", "must not be empty")]
    misspelt = problems_of(tmp_path, FULL.replace('why = "Why."', 'wyh = "Why."'))
    assert misspelt[0][0] == "wyh" and "did you mean 'why'?" in misspelt[0][1], misspelt
    lesson = load_lesson(write_lesson(tmp_path, FULL), tmp_path / "solutions")
    assert lesson.why == "Why."


WRONG_TYPES = [
    ("title", 'title = "Demo"', "title = 3", "must be a string, not an integer (3)"),
    ("order", 'title = "Demo"', 'title = "Demo"\norder = true', "must be an integer, not true or false (true)"),
    ("hints", 'hints = ["one"]', 'hints = "one"', "must be an array [...], not a string"),
    ("hints[0]", 'hints = ["one"]', "hints = [3]", "must be a string"),
    ("limits.time_s", "time_s = 60", 'time_s = "60"', "must be a number, not a string"),
    ("starter_fails_with.line", "line = 1", 'line = "one"', "must be an integer"),
    ("starter_fails_with", "[starter_fails_with]", "[[starter_fails_with]]", "write [starter_fails_with] (single"),
    ("checks[1].threshold", "threshold = 0.5", 'threshold = "high"', "must be a number"),
    ("title", 'title = "Demo"', "title = 1979-05-27", "must be a string, not a date (1979-05-27)"),
    ("starter_fails_with.line", "line = 1", "line = 1.0", "must be an integer, not a number (1.0)"),
    ("limits.extra", "time_s = 60", "time_s = 60\n[limits.extra]\nx = 1", "unknown key 'extra' (known here: time_s)"),
    ("checks[2].kind", "[[cases]]", "[[checks]]\nthreshold = 0.5\n\n[[cases]]", "is missing (known check kinds: "),
    ("checks[0].kind", 'kind = "no_name_error"', 'kind = "no_nameerror"', "did you mean 'no_name_error'?"),
    ("wrong[0].replace[0]", 'code = "print(1)"', 'replace = [["print"]]', "must be a pair [old, new], not 1 item"),
    ("wrong[0].base", 'code = "print(1)"', 'code = "print(1)"\nbase = "solutoin"', "did you mean 'solution'?"),
    ("wrong[0].fails[0]", 'code = "print(1)"', 'code = "print(1)"\nfails = ["no_eror"]', "did you mean 'no_error'?"),
    ("schema_version", "schema_version = 1", "schema_version = 2", "this version of the app reads schema_version = 1"),
    ("id", 'id = "demo"', 'id = "Demo Lesson"', "must be lowercase words joined by '-'"),
    ("model_name", 'title = "Demo"', 'title = "Demo"\nmodel_name = "my model"', "must be a Python name"),
    ("cases[0].files[0].name", 'name = "data.txt"', 'name = "../x"', "must be a plain file name"),
    (
        "cases[0].files[0]",
        'content = "x"\n\n[[cases.checks]]',
        'content = "x"\ncopy = "y"\n\n[[cases.checks]]',
        "exactly one",
    ),
]


@pytest.mark.parametrize(("field", "old", "new", "words"), WRONG_TYPES, ids=[w[0] for w in WRONG_TYPES])
def test_wrong_types_name_the_field(tmp_path: Path, field: str, old: str, new: str, words: str) -> None:
    assert old in FULL
    problems = problems_of(tmp_path, FULL.replace(old, new, 1))
    assert problems[0][0] == field, problems
    assert words in problems[0][1]


def test_checks_written_as_plain_values(tmp_path: Path) -> None:
    text = GOOD.split("[[checks]]")[0].replace('hints = ["one"]', 'hints = ["one"]\nchecks = ["no_error"]')
    assert problems_of(tmp_path, text) == [
        ("checks[0]", 'must be a table: write each item as a [[checks]] table, not a string ("no_error")')
    ]


def test_a_top_level_key_deep_below_a_table_is_sent_to_the_top(tmp_path: Path) -> None:
    text = FULL.replace('hints = ["one"]\n', "") + 'hints = ["one"]\n'  # after [[claims.files]]
    (field, problem), *_ = problems_of(tmp_path, text)
    assert field == "claims[0].files[0].hints"
    assert "Move `hints` above `[[claims.files]]` (top-level keys go above the file's first [table] line)" in problem


def test_a_table_written_as_a_value(tmp_path: Path) -> None:
    text = FULL.replace("[limits]\ntime_s = 60\n", "").replace('title = "Demo"', 'title = "Demo"\nlimits = 60')
    assert problems_of(tmp_path, text) == [("limits", "must be a table ([limits]), not an integer")]
    # The same line below [[checks]] belongs to the check: that is what the teacher is told.
    text = FULL.replace("[limits]\ntime_s = 60\n", "limits = 60\n")
    assert problems_of(tmp_path, text)[0][0] == "checks[1].limits"


OUT_OF_RANGE = [
    ("limits.time_s", "time_s = 60", "time_s = 0", "is 0; use 1 to 1800"),
    ("limits.time_s", "time_s = 60", "time_s = 1801.5", "is 1801.5; use 1 to 1800"),
    ("checks[1].threshold", "threshold = 0.5", "threshold = 5", "is 5; use 0 to 1"),
    ("checks[1].threshold", "threshold = 0.5", "threshold = -0.1", "is -0.1; use 0 to 1"),
    ("cases[0].checks[0].min_epochs", "min_epochs = 1", "min_epochs = 0", "is 0; use 1 to 1000"),
    ("order", 'title = "Demo"', 'title = "Demo"\norder = -1', "is -1; use 0 to 1e+06"),
    ("starter_fails_with.line", "line = 1", "line = 0", "is 0; use at least 1"),
    ("hints", 'hints = ["one"]', "hints = []", "give at least one"),
]


@pytest.mark.parametrize(("field", "old", "new", "words"), OUT_OF_RANGE, ids=[f"{o[0]}-{o[2]}" for o in OUT_OF_RANGE])
def test_out_of_range_numbers(tmp_path: Path, field: str, old: str, new: str, words: str) -> None:
    problems = problems_of(tmp_path, FULL.replace(old, new, 1))
    assert problems == [(field, words)]


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    text = FULL.replace("time_s = 60", "time_s = 0").replace("threshold = 0.5", "threshold = 2").replace("sumary", "x")
    text = text.replace('summary = "A demo lesson."', 'sumary = "A demo lesson."')
    fields = [field for field, _ in problems_of(tmp_path, text)]
    assert sorted(fields) == ["checks[1].threshold", "limits.time_s", "sumary"]


BAD_TEMPLATES = [
    ("message", "min_accuracy", "Only {accuracy:.1%}", "has no 'accuracy' when it fails because"),
    ("message", "min_accuracy", "{acuracy}", "has no fact 'acuracy'"),
    ("passed_message", "min_accuracy", "{accuracy:.1q}", "the format ':.1q' does not fit accuracy"),
    ("message", "no_name_error", "line {line:d}", "the format ':d' does not fit line, which can be None"),
    ("message", "no_error", "{message}", "has no 'message' when it fails because the program called sys.exit(n)"),
    ("passed_message", "loaded_saved_model", "line {line:03d}", "does not fit line, which can be None"),
    ("message", "min_accuracy", "a dict {", "a literal brace is written {{ or }}"),
    ("message", "min_accuracy", "a dict }", "a literal brace is written {{ or }}"),
    ("message", "min_accuracy", "{} or {0}", "needs a fact's name"),
    ("message", "min_accuracy", "{threshold.real}", "only a fact's plain name"),
    ("message", "min_accuracy", "{threshold!x}", "unknown conversion"),
    ("message", "min_accuracy", "{threshold:{default}}", "cannot contain another placeholder"),
]


@pytest.mark.parametrize(("field", "kind", "template", "words"), BAD_TEMPLATES, ids=[b[2] for b in BAD_TEMPLATES])
def test_bad_templates_are_lesson_errors(tmp_path: Path, field: str, kind: str, template: str, words: str) -> None:
    check = f'[[checks]]\nkind = "{kind}"\n' + ("threshold = 0.5\n" if kind == "min_accuracy" else "")
    text = GOOD + "\n" + check + f"{field} = {json.dumps(template)}\n"
    problems = problems_of(tmp_path, text)
    assert problems[0][0] == f"checks[2].{field}"
    assert words in problems[0][1], problems


GOOD_TEMPLATES = [
    ("message", "min_accuracy", "{default} (you need {threshold:.0%}; {{literal braces}})"),
    ("passed_message", "min_accuracy", "{accuracy:.1%} reached {threshold:.0%}."),
    ("message", "no_name_error", "{default} Keep the model in `{model_name!s}`."),
    ("passed_message", "training_completed", "All {epochs_run} epochs (at least {min_epochs:d})."),
    ("message", "training_completed", "Train at least {min_epochs} epoch(s)."),
]


@pytest.mark.parametrize(("field", "kind", "template"), GOOD_TEMPLATES, ids=[g[2] for g in GOOD_TEMPLATES])
def test_good_templates_load(tmp_path: Path, field: str, kind: str, template: str) -> None:
    check = f'[[checks]]\nkind = "{kind}"\n' + ("threshold = 0.5\n" if kind == "min_accuracy" else "")
    text = GOOD + "\n" + check + f"{field} = {json.dumps(template)}\n"
    lesson = load_lesson(write_lesson(tmp_path, text), tmp_path / "solutions")
    assert getattr(lesson.checks[2], field) == template


# Run results that drive every path of every check (tests/test_checks.py has the behaviour per path).
NAME_ERROR = ErrorInfo("NameError", "name 'model' is not defined", 24, name="model", is_name_error=True)
SYNTAX = ErrorInfo("SyntaxError", "'(' was never closed", 3)
VALUE_ERROR = ErrorInfo("ValueError", "File not found", 2)
GOOD_MODEL = ModelInfo("model", True, "Sequential", True, trained=True, params=7850)
HISTORY = [{"loss": 0.1, "accuracy": 0.95}]


def finished(**fields) -> RunResult:
    return RunResult(Termination.FINISHED, 1.0, **{"exit_code": 0, **fields})


def fit(**fields) -> FitInfo:
    return FitInfo(**{"index": 1, "epochs": 5, "line": 9, "epochs_run": 5, "completed": True, "ended": True, **fields})


SCENARIOS = [
    finished(fits=[fit(history=HISTORY)], model=GOOD_MODEL),
    finished(fits=[fit(history=[{"loss": 0.1, "accuracy": 0.2}])], model=GOOD_MODEL),
    finished(fits=[fit(history=[{"loss": 0.1}])], model=GOOD_MODEL),
    finished(fits=[fit(epochs=0, epochs_run=0, completed=False)], model=GOOD_MODEL),
    finished(fits=[fit(epochs_run=2, completed=False, error="RuntimeError")]),
    finished(error=NAME_ERROR, exit_code=1),
    finished(error=SYNTAX, exit_code=1),
    finished(error=VALUE_ERROR, exit_code=1),
    RunResult(Termination.EXITED, 1.0, exit_code=3),
    RunResult(Termination.TIMEOUT, 60.0, detail="Your program was stopped after 60 s."),
    finished(model=ModelInfo("model", False)),
    finished(model=ModelInfo("model", True, "NoneType")),
    finished(fits=[fit(history=HISTORY)], model=ModelInfo("model", True, "Sequential", True, params=7850)),
    finished(loads=[LoadInfo("m.keras", True, 5)], model=ModelInfo("model", True, "Sequential", True, loaded=True)),
    finished(loads=[LoadInfo("m.keras", True, 5)], model=GOOD_MODEL),
    finished(loads=[LoadInfo("m.keras", False, 5, "ValueError", "File not found")]),
]


def test_each_check_gives_exactly_the_declared_facts_on_each_path() -> None:
    """The contract a template is validated against is the one the checks keep; every declared path is real."""
    seen: set[tuple[str, Outcome, str]] = set()
    for name, kind in CHECK_KINDS.items():
        for result in SCENARIOS:
            for params in ({"threshold": 0.9, "min_epochs": 1}, {"threshold": 0.9, "min_epochs": 10}):
                finding = kind.function(result, params, "model")
                side = Outcome.PASSED if finding.passed else Outcome.FAILED
                paths = [
                    p
                    for p in kind.fact_paths[side]
                    if set(p.facts) == set(finding.facts) and p.judged == finding.judged
                ]
                assert paths, f"{name} {side}: facts {sorted(finding.facts)} match no declared path"
                for fact, value in finding.facts.items():
                    assert any(type(value) is type(sample) for sample in paths[0].facts[fact]), (name, fact, value)
                seen.add((name, side, paths[0].why))
    declared = {(k.name, side, p.why) for k in CHECK_KINDS.values() for side, ps in k.fact_paths.items() for p in ps}
    assert declared == seen


def test_a_valid_template_formats_on_every_path() -> None:
    spec = CheckSpec("min_accuracy", {"threshold": 0.9}, message="{default} Aim for {threshold:.0%}.")
    for result in SCENARIOS:
        outcome = run_check(spec, result, "model")
        if not outcome.passed and "Not reached" not in outcome.message:
            assert outcome.message.endswith("Aim for 90%.") and "{" not in outcome.message
    assert "Aim for 90%" in run_check(spec, SCENARIOS[1], "model").message


def test_a_run_that_could_not_be_checked_keeps_the_default_reason() -> None:
    spec = CheckSpec("no_name_error", {}, message="Line {line}: keep what build_model() returns in `{name}`.")
    judged = run_check(spec, finished(error=NAME_ERROR, exit_code=1), "model")
    assert judged.message == "Line 24: keep what build_model() returns in `model`."
    timeout = run_check(spec, RunResult(Termination.TIMEOUT, 60.0, detail="Stopped after 60 s."), "model")
    assert timeout.message == "Not reached: your program was stopped before this point."  # issue 11


def test_template_validation_covers_every_kind() -> None:
    for kind in CHECK_KINDS:
        for side in Outcome:
            assert template_problem("{default} / {model_name}", kind, side) is None
            assert "has no fact" in template_problem("{nope}", kind, side)


def test_replace_that_matches_nothing_names_the_pair(tmp_path: Path) -> None:
    text = FULL.replace('code = "print(1)"', 'replace = [["model = 1", "model = 2"], ["absent text", "x"]]')
    assert problems_of(tmp_path, text) == [("wrong[0].replace[1]", "text 'absent text' is not in the solution")]


def test_duplicate_ids_inside_a_lesson(tmp_path: Path) -> None:
    text = FULL + '\n[[wrong]]\nid = "w"\ndescription = "again"\ncode = "x"\n'
    text += '\n[[claims]]\nid = "c"\nstatement = "again"\ncode = "x"\n'
    text += '\n[[cases]]\nid = "a"\n'
    problems = problems_of(tmp_path, text)
    assert problems == [
        ("cases", "ids must be unique; repeated: a"),
        ("wrong", "ids must be unique; repeated: w"),
        ("claims", "ids must be unique; repeated: c"),
    ]


def test_fails_must_name_a_check_of_the_lesson(tmp_path: Path) -> None:
    text = FULL.replace('code = "print(1)"', 'code = "print(1)"\nfails = ["loaded_saved_model"]')
    assert problems_of(tmp_path, text) == [
        ("wrong[0].fails[0]", "'loaded_saved_model' is not one of this lesson's checks")
    ]


def test_a_toml_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = write_lesson(tmp_path, GOOD)
    path.write_bytes(GOOD.replace('title = "Demo"', 'title = "Démo"').encode("latin-1"))
    with pytest.raises(LessonError) as caught:
        load_lesson(path, tmp_path / "solutions")
    assert caught.value.field == "(encoding)"
    assert "is not UTF-8: byte 0xe9 on line 4, column 11" in str(caught.value)
    assert str(path) in str(caught.value)


def test_lessons_command_lists_every_broken_field(tmp_path: Path, monkeypatch, capsys) -> None:
    write_lesson(
        tmp_path, FULL.replace("time_s = 60", 'time_s = 60\nhints = ["x"]').replace("threshold = 0.5", "threshold = 3")
    )
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(tmp_path / "lessons"))
    monkeypatch.setenv("TUTOR_SOLUTIONS_DIR", str(tmp_path / "solutions"))
    assert main(["lessons"]) == 1
    lines = capsys.readouterr().out.splitlines()
    path = tmp_path / "lessons" / "demo.toml"
    assert lines == [
        f"BROKEN  {path}: field 'limits.hints': `hints` is inside `[limits]`: in TOML every key below a [table] "
        "line belongs to that table. Move `hints` above `[limits]` (top-level keys go above the file's first "
        "[table] line)",
        f"BROKEN  {path}: field 'checks[1].threshold': is 3; use 0 to 1",
    ]


def test_schema_command_prints_the_json_schema(capsys) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert {"schema_version", "id", "hints", "limits", "checks", "cases", "wrong", "claims"} <= set(
        schema["properties"]
    )
    assert set(schema["required"]) >= {"schema_version", "id", "title", "why", "hints", "checks", "starter_fails_with"}
    assert "first failing verdict" in schema["properties"]["why"]["description"]
    check_defs = [d for d in schema["$defs"].values() if "kind" in d.get("properties", {})]
    assert {d["properties"]["kind"]["const"] for d in check_defs} == set(CHECK_KINDS)
    tables = [d for d in schema["$defs"].values() if d.get("type") == "object"]  # (LessonKind is an enum)
    assert len(tables) > 5 and all(d["additionalProperties"] is False for d in tables)
    limits = schema["$defs"]["LimitsTable"]["properties"]["time_s"]
    assert (limits["minimum"], limits["maximum"]) == (1, 1800)


def test_shipped_lessons_still_load() -> None:
    root = Path(__file__).resolve().parent.parent
    lesson_set = load_lessons(root / "lessons", root / "solutions")
    assert lesson_set.errors == []
    kinds = [str(lesson.kind) for lesson in lesson_set.lessons]
    assert (kinds.count("script"), kinds.count("notebook"), kinds.count("project")) == (8, 3, 1)


def test_the_published_schema_agrees_with_the_loader(capsys) -> None:
    """What an editor validates with is what the app loads: the shipped lessons pass, mistakes do not."""
    assert main(["schema"]) == 0
    validator = jsonschema.Draft202012Validator(json.loads(capsys.readouterr().out))
    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "lessons").glob("*.toml")):
        assert list(validator.iter_errors(tomllib.loads(path.read_text()))) == [], path.name
    data = tomllib.loads((root / "lessons" / "assign-the-model.toml").read_text())
    data["limits"]["hints"] = ["x"]
    data["checks"][5]["threshold"] = 5
    data["wrong"][0]["fail"] = data["wrong"][0].pop("fails")
    bad = sorted(tuple(error.absolute_path) for error in validator.iter_errors(data))
    assert bad == [("checks", 5), ("limits",), ("wrong", 0)]
