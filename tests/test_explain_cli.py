"""`python -m tutor explain FILE` as anyone runs it on their own script or notebook: one JSON object with
--json, readable words without, exit 0 (explained, or nothing to explain), 2 (bad input), 3 (the sandbox
broke). Small programs without TensorFlow, run in the real sandbox: a second each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tutor import cli
from tutor.explain import running
from tutor.sandbox.results import RunResult, Termination

ROOT = Path(__file__).resolve().parent.parent
ERROR_KEYS = {"type", "name", "line", "message", "cause", "diagnosis", "fix", "cell", "run", "function",
              "suggestions", "fixed_source", "handler_line"}  # fmt: skip
TOP_KEYS = {"file", "kind", "found", "basis", "error", "summary", "stopped", "notes", "cells", "grader_error",
            "version"}  # fmt: skip

DISCARDED = """def build_model():
    model = [1, 2, 3]
    return model

build_model()
print(len(model))
"""


def explain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tutor", "explain", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def explain_json(*args: str) -> tuple[int, dict]:
    completed = explain(*args, "--json")
    return completed.returncode, json.loads(completed.stdout)  # fails if anything else was printed


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_json_for_a_name_error_the_sandbox_raised(tmp_path: Path) -> None:
    code, result = explain_json(write(tmp_path, "train.py", DISCARDED))
    assert code == 0
    assert set(result) == TOP_KEYS and set(result["error"]) == ERROR_KEYS
    assert (result["file"], result["kind"], result["found"], result["basis"]) == ("train.py", "script", True, "sandbox")
    error = result["error"]
    assert (error["type"], error["name"], error["line"], error["cause"]) == (
        "NameError",
        "model",
        6,
        "discarded-result",
    )
    assert error["message"] == "name 'model' is not defined"
    assert "Line 5 calls `build_model()`" in error["diagnosis"] and "model = build_model()" not in error["diagnosis"]
    assert "model = build_model()" in error["fix"]
    assert error["fixed_source"] == DISCARDED.replace("\nbuild_model()", "\nmodel = build_model()")
    assert (error["cell"], error["run"]) == (None, None)
    assert result["summary"] == "Line 6 raises NameError: `model` is not defined (result of the call not kept)."


def test_json_for_a_notebook_has_the_cell_and_the_run(tmp_path: Path) -> None:
    made = new_notebook()
    made.cells = [
        new_markdown_cell("# Lab"),
        new_code_cell("from string import digits", execution_count=None),
        new_code_cell("print(digits)", execution_count=1),
    ]
    path = tmp_path / "lab.ipynb"
    path.write_text(nbformat.writes(made))
    code, result = explain_json(str(path))
    assert code == 0 and result["kind"] == "notebook" and set(result["error"]) == ERROR_KEYS
    error = result["error"]
    assert (error["cell"], error["line"], error["run"], error["cause"]) == (2, 1, "session", "notebook-order")
    assert result["cells"] == [
        {"index": 1, "execution_count": None, "source": "from string import digits"},
        {"index": 2, "execution_count": 1, "source": "print(digits)"},
    ]


def test_a_program_without_a_name_error(tmp_path: Path) -> None:
    code, result = explain_json(write(tmp_path, "fine.py", "total = sum(range(10))\nprint(total)\n"))
    assert code == 0
    assert (result["found"], result["error"], result["basis"], result["stopped"]) == (False, None, None, None)
    assert result["summary"] == "No NameError here: your program ran to the end."


def test_a_program_that_stops_before_its_name_error_is_explained_from_the_source(tmp_path: Path) -> None:
    source = "import json\nrows = open('train.csv').read()\nmodel.fit(rows)\n"
    code, result = explain_json(write(tmp_path, "train.py", source))
    assert code == 0 and result["found"] and result["basis"] == "source"
    assert result["stopped"] == {
        "type": "FileNotFoundError", "message": "[Errno 2] No such file or directory: 'train.csv'", "line": 2,
        "cell": None,
    }  # fmt: skip
    assert (result["error"]["name"], result["error"]["line"]) == ("model", 3)
    assert result["summary"].startswith(
        "It stopped here with FileNotFoundError on line 2 (a file it reads is not here), before reaching any NameError."
    )


def test_a_pasted_traceback_explains_what_the_run_here_cannot_reach(tmp_path: Path) -> None:
    source = "import json\nrows = open('train.csv').read()\nmodel = make()\nmodel.fit(rows)\nscore = modle.evaluate()\n"
    traceback = (
        'Traceback (most recent call last):\n  File "/home/me/train.py", line 5, in <module>\n'
        "    score = modle.evaluate()\nNameError: name 'modle' is not defined. Did you mean: 'model'?\n"
    )
    code, result = explain_json(
        write(tmp_path, "train.py", source), "--traceback", write(tmp_path, "tb.txt", traceback)
    )
    assert code == 0 and result["basis"] == "traceback" and result["stopped"]["type"] == "FileNotFoundError"
    assert (result["error"]["name"], result["error"]["line"], result["error"]["cause"]) == ("modle", 5, "misspelled")
    assert result["error"]["suggestions"][0] == "model"


def test_no_run_uses_the_traceback_else_the_source(tmp_path: Path) -> None:
    script = write(tmp_path, "train.py", "while True:\n    pass\nprint(layers)\n")  # never ends if it ran
    traceback = write(tmp_path, "tb.txt", "NameError: name 'layers' is not defined\n")
    code, result = explain_json(script, "--no-run", "--traceback", traceback)
    assert code == 0 and result["basis"] == "traceback" and result["error"]["line"] == 3
    code, result = explain_json(script, "--no-run")
    assert code == 0 and result["basis"] == "source" and result["error"]["cause"] == "not-imported"
    assert result["error"]["fixed_source"].startswith("from keras import layers\nwhile True:")


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("notes.txt", b"print(1)\n", ".ipynb"),
        ("binary.py", b"\x00\x01\x02", "binary"),
        ("lab.ipynb", b"{not json", "not valid JSON"),
        ("empty.py", b"", "empty"),
    ],
)
def test_bad_input_is_exit_2_with_the_same_json_shape(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, result = explain_json(str(path))
    assert code == cli.EXIT_USAGE == 2
    assert set(result) == TOP_KEYS and result["found"] is False and result["error"] is None
    assert words in result["summary"] and result["file"] == name


def test_a_missing_file_is_exit_2_in_words(tmp_path: Path) -> None:
    completed = explain(str(tmp_path / "nowhere.py"))
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.startswith("error: cannot read") and "No such file" in completed.stderr


def test_text_mode_says_name_line_cause_diagnosis_and_fix(tmp_path: Path) -> None:
    completed = explain(write(tmp_path, "train.py", DISCARDED))
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert out.startswith("train.py: Line 6 raises NameError")
    for words in ("NameError: `model` on line 6", "cause:           discarded-result", "what went wrong: `model`",
                  "fix:             ", "+model = build_model()"):  # fmt: skip
        assert words in out


def test_a_broken_sandbox_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def broken(request, on_event=None, cancel=None, dataset=None, pool=None) -> RunResult:
        return RunResult(Termination.SANDBOX_ERROR, 0.0, detail="The sandbox could not start: test")

    monkeypatch.setattr(running, "run_program", broken)
    code = cli.main(["explain", write(tmp_path, "train.py", DISCARDED), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_GRADER == 3
    assert result["grader_error"] == "The sandbox could not start: test" and result["found"] is False
