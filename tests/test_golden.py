"""Golden files for sandbox results: one folder per case (tests/golden/<case>/main.py, optional limits.json),
the whole expected result of the run beside it in expected.json. Only what truly varies between runs and
machines is normalised (durations, memory sizes, training metrics, install paths, memory addresses, which
MNIST file is installed); everything else must match. A missing expected.json fails. After an intended
change, regenerate with ``pytest tests/test_golden.py --update-golden`` and review the diff."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.golden_support import assert_matches_golden
from tutor import settings
from tutor.grading.diagnosis import diagnose_result
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import RunResult
from tutor.sandbox.runner import RunRequest, run_program

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(path.name for path in GOLDEN.iterdir() if (path / "main.py").is_file())

# Fields of the result that differ from run to run or machine to machine: replaced by a marker that still
# says whether there was a value.
VARYING_FIELDS = {
    "duration_s": "<seconds>",
    "peak_memory_mb": "<MiB>",
    "dataset": "<real or standin>",  # the stand-in has the real file's shapes and types
    "dataset_description": "<which MNIST is installed>",
}


def install_paths() -> list[tuple[str, str]]:
    """Where this machine keeps Python and the venv (tracebacks through Keras show them)."""
    paths = {
        os.path.realpath(sys.prefix): "<venv>",
        sys.prefix: "<venv>",
        os.path.realpath(sys.base_prefix): "<python>",
        sys.base_prefix: "<python>",
        str(settings.runs_dir()): "<runs>",
    }
    return sorted(paths.items(), key=lambda item: -len(item[0]))  # the longest first


def normalize_text(text: str) -> str:
    for path, marker in install_paths():
        if path not in ("", "/", "/usr"):
            text = text.replace(path, marker)
    text = re.sub(r"0x[0-9a-fA-F]{6,}", "0x<address>", text)
    return re.sub(r"tutor-run-[A-Za-z0-9_]+", "tutor-run-<id>", text)


def normalize_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: normalize_strings(item) for name, item in value.items()}
    if isinstance(value, list):
        return [normalize_strings(item) for item in value]
    return normalize_text(value) if isinstance(value, str) else value


def normalized_result(result: RunResult) -> dict[str, Any]:
    data = json.loads(json.dumps(result.to_dict()))
    for name, marker in VARYING_FIELDS.items():
        if data[name] is not None:
            data[name] = marker
    for figure in data["figures"]:  # a PNG's bytes depend on the machine's libraries; its size in pixels does not
        figure.update(png="<png>", bytes="<bytes>")
    for fit in data["fits"]:  # training metrics: which ones each epoch has is stable, their values are not
        fit["history"] = [{key: None if v is None else "<number>" for key, v in e.items()} for e in fit["history"]]
    return normalize_strings(data)


def case_params():
    for name in CASES:
        marks = [pytest.mark.tf] if name.startswith("tf-") else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(case_params()))
def test_golden(name: str, request: pytest.FixtureRequest) -> None:
    folder = GOLDEN / name
    limits_file = folder / "limits.json"
    limits = Limits(**json.loads(limits_file.read_text())) if limits_file.exists() else Limits(wall_s=60)
    source = (folder / "main.py").read_bytes()
    result = run_program(RunRequest(source, limits=limits))
    diagnose_result(result, source)  # what grading adds: why the name is missing, from the source
    actual = normalized_result(result)
    assert_matches_golden(actual, folder / "expected.json", request, __file__)


def test_every_case_has_its_expected_file() -> None:
    """Also without running anything: a new case folder without expected.json is caught by the fast subset."""
    missing = [name for name in CASES if not (GOLDEN / name / "expected.json").is_file()]
    assert missing == []
