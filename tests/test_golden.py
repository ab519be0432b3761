"""Golden files for sandbox results: one folder per case (tests/golden/<case>/main.py), the expected
summary of the run beside it in expected.json. Regenerate after an intended change with
``UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tutor.isolation import Limits
from tutor.results import RunResult
from tutor.runner import RunRequest, run_program

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(path.name for path in GOLDEN.iterdir() if (path / "main.py").is_file())


def summarize(result: RunResult) -> dict:
    """The stable part of a result: no timings, metrics or memory addresses."""
    error = result.error
    return {
        "termination": str(result.termination),
        "exit_code": result.exit_code,
        "signal": result.signal,
        "detail": result.detail,
        "error": None
        if error is None
        else {
            "type": error.type,
            "line": error.line,
            "name": error.name,
            "function": error.function,
            "message": error.message,
            "context": error.context,
            "summary": (error.analysis or {}).get("summary"),
            "traceback_tail": error.traceback.strip().splitlines()[-1] if error.traceback.strip() else "",
        },
        "fits": [
            {"epochs": f.epochs, "epochs_run": f.epochs_run, "completed": f.completed, "line": f.line, "error": f.error}
            for f in result.fits
        ],
        "loads": [{"path": load.path, "ok": load.ok, "error_type": load.error_type} for load in result.loads],
        "model": None if result.model is None else vars(result.model),
        "dataset_loaded": result.dataset is not None,
        "stdout": result.stdout,
        "stderr_tail": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "",
        "output_truncated": result.output_truncated,
    }


def case_params():
    for name in CASES:
        marks = [pytest.mark.tf] if name.startswith("tf-") else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(case_params()))
def test_golden(name: str) -> None:
    folder = GOLDEN / name
    limits_file = folder / "limits.json"
    limits = Limits(**json.loads(limits_file.read_text())) if limits_file.exists() else Limits(wall_s=60)
    result = run_program(RunRequest((folder / "main.py").read_bytes(), limits=limits))
    actual = summarize(result)
    expected_file = folder / "expected.json"
    if os.environ.get("UPDATE_GOLDEN") or not expected_file.exists():
        expected_file.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
        if not os.environ.get("UPDATE_GOLDEN"):
            pytest.fail(f"wrote missing {expected_file}; review it and run again")
    assert actual == json.loads(expected_file.read_text())
