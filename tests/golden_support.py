"""The golden-file step both golden suites share: write expected.json under --update-golden, fail when it
is missing, else compare the whole of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def assert_matches_golden(actual: Any, expected_file: Path, request: pytest.FixtureRequest, test_file: str) -> None:
    if request.config.getoption("--update-golden"):
        expected_file.write_text(json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    if not expected_file.exists():
        pytest.fail(f"{expected_file} is missing: write it with `pytest {test_file} --update-golden` and review it")
    assert actual == json.loads(expected_file.read_text())
