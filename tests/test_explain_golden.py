"""Golden explanations, one folder per case (tests/explain_golden/<case>/): the person's main.py or
main.ipynb, optionally the traceback they pasted (traceback.txt) and options.json ({"run": false} to explain
without running, for cases whose program needs what is not here), and expected.json, the whole explanation
``explain --json`` must give. Every cause of the vocabulary has a case, scripts and notebooks; the sandbox
runs each program unless the options say not to. After an intended change, regenerate with
``pytest tests/test_explain_golden.py --update-golden`` and review the diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.golden_support import assert_matches_golden
from tutor.explain.explain import explain_file
from tutor.lessons.causes import NameCause

GOLDEN = Path(__file__).parent / "explain_golden"
CASES = sorted(path.name for path in GOLDEN.iterdir() if path.is_dir())


def program_of(folder: Path) -> Path:
    return next(path for path in (folder / "main.py", folder / "main.ipynb") if path.is_file())


@pytest.mark.parametrize("name", CASES)
def test_explanation(name: str, request: pytest.FixtureRequest) -> None:
    folder = GOLDEN / name
    program = program_of(folder)
    traceback_file = folder / "traceback.txt"
    options_file = folder / "options.json"
    options = json.loads(options_file.read_text()) if options_file.exists() else {}
    traceback = traceback_file.read_text() if traceback_file.exists() else None
    explanation = explain_file(program.name, program.read_bytes(), traceback, run=options.get("run", True))
    actual = json.loads(json.dumps(explanation.to_dict()))
    assert_matches_golden(actual, folder / "expected.json", request, __file__)


def test_every_cause_has_a_golden_explanation() -> None:
    """Also without running anything: the cases cover the whole vocabulary, scripts and notebooks."""
    causes = set()
    for name in CASES:
        expected = GOLDEN / name / "expected.json"
        assert expected.is_file(), f"{expected} is missing"
        error = json.loads(expected.read_text())["error"]
        if error is not None:
            causes.add(error["cause"])
    # other-module takes several modules, and `explain` reads one file: tests/test_project.py explains it
    assert causes == {str(cause) for cause in NameCause} - {NameCause.OTHER_MODULE}
    kinds = {program_of(GOLDEN / name).suffix for name in CASES}
    assert kinds == {".py", ".ipynb"}
