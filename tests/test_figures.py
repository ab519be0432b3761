"""matplotlib figures come back with the run (issue 19, "Plots"): shown, saved or left open, as PNG within
the caps of tutor.sandbox.protocol, through the real sandbox; what the sandbox says about them is checked."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_roundtrip import png
from tutor.checks.judge import CheckResult
from tutor.grading.verdict import CaseVerdict, Verdict
from tutor.sandbox.protocol import MAX_FIGURE_BYTES, MAX_FIGURE_SIDE, MAX_FIGURES, PNG_SIGNATURE
from tutor.sandbox.results import Figure, RunResult, Termination
from tutor.sandbox.runner import RunRequest, run_program
from ui.widgets import figures_note

ROOT = Path(__file__).resolve().parent.parent


def run(source: str) -> RunResult:
    return run_program(RunRequest(source))


def sizes(result: RunResult) -> list[tuple[int, str, int, int]]:
    return [(figure.index, figure.how, figure.width, figure.height) for figure in result.figures]


def test_shown_saved_and_open_figures_come_back_as_png() -> None:
    result = run(
        "import os\n"
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3])\n"
        "plt.show()\n"
        "fig = plt.figure(figsize=(4, 3))\n"
        "plt.plot([3, 2, 1])\n"
        "fig.savefig('curve.png')\n"
        "plt.close(fig)\n"  # saved, then closed: it still comes back
        "plt.figure(figsize=(3.2, 2.4))\n"
        "plt.bar([1, 2], [3, 4])\n"  # left open at the end
        "print(os.path.exists('curve.png'), plt.get_fignums())\n"
    )
    assert result.termination is Termination.FINISHED, result.detail
    assert sizes(result) == [(1, "shown", 640, 480), (2, "saved", 400, 300), (3, "open", 320, 240)]
    assert result.figures_made == 3
    for figure in result.figures:
        data = base64.b64decode(figure.png)
        assert data.startswith(PNG_SIGNATURE) and len(data) == figure.bytes
    assert result.stdout == "True [1]\n"  # show() closed figure 1 (as closing its window would): its number is free
    assert result.stderr == ""  # no "non-interactive" warning, no font scan complaining about fontconfig


def test_a_program_without_figures_brings_none() -> None:
    for source in ("print(1)\n", "import matplotlib.pyplot as plt\nplt.close('all')\nprint(1)\n"):
        result = run(source)
        assert (result.stdout, result.figures, result.figures_made) == ("1\n", [], 0)


def test_a_thousand_figures_are_counted_and_the_first_few_shown_quickly() -> None:
    result = run("import matplotlib.pyplot as plt\nfor i in range(1000):\n    plt.plot([0, i])\n    plt.show()\n")
    assert result.termination is Termination.FINISHED, result.detail
    assert [figure.index for figure in result.figures] == list(range(1, MAX_FIGURES + 1))
    assert result.figures_made == 1000
    assert result.duration_s < 30  # past the cap a figure is counted, never rendered
    assert figures_note(result.figures_made, len(result.figures)) == (
        "Your program made 1000 figures; the first 8 are shown."
    )


def test_a_huge_figure_is_capped_in_pixels_and_bytes() -> None:
    result = run(
        "import numpy as np\n"
        "import matplotlib.pyplot as plt\n"
        "plt.figure(figsize=(500, 500))\n"
        "plt.plot([1, 2])\n"
        "plt.show()\n"
        "plt.figure(figsize=(30, 30))\n"  # noise compresses badly: 3000x3000 of it is megabytes of PNG
        "plt.imshow(np.random.default_rng(0).random((1500, 1500)), interpolation='nearest')\n"
    )
    assert result.termination is Termination.FINISHED, result.detail
    assert [(figure.width, figure.height) for figure in result.figures[:1]] == [(2000, 2000)]
    assert len(result.figures) == 2
    for figure in result.figures:
        assert max(figure.width, figure.height) <= MAX_FIGURE_SIDE
        assert figure.bytes <= MAX_FIGURE_BYTES
    assert result.figures[1].width < 2000  # shrunk to fit the bytes


# The harness's own sender, reached the way a determined learner could: the frame that runs the program.
FORGE = "import sys\nsend = sys._getframe(1).f_locals['send']\n"


def test_a_forged_figure_that_is_no_png_is_a_grader_error_not_a_picture() -> None:
    result = run(FORGE + "send('figure', index=1, how='shown', png='PHNjcmlwdD4=')\n")  # "<script>"
    assert result.termination is Termination.HARNESS_ERROR
    assert result.figures == []
    assert "png" in result.detail


def test_forged_figures_past_the_cap_are_dropped_and_sizes_come_from_the_image() -> None:
    image = base64.b64encode(png(3, 2)).decode()
    result = run(FORGE + f"for i in range(20):\n    send('figure', index=min(i + 1, 8), how='open', png='{image}')\n")
    assert result.termination is Termination.FINISHED, result.detail
    assert sizes(result) == [(i, "open", 3, 2) for i in range(1, 9)]


def test_figures_cross_the_queue_and_the_database_as_json() -> None:
    figure = Figure(1, "shown", 3, 2, len(png(3, 2)), base64.b64encode(png(3, 2)).decode())
    result = RunResult(Termination.FINISHED, 1.0, figures=[figure], figures_made=5)
    verdict = Verdict("lesson", True, [CaseVerdict("default", "Default", True, [CheckResult("x", True, "")], result)])
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["cases"][0]["figures"] == [{"index": 1, "how": "shown", "width": 3, "height": 2, "bytes": figure.bytes}]
    assert data["cases"][0]["figures_made"] == 5
    read = Verdict.from_dict(data).cases[0].result
    assert read is not None and (read.figures, read.figures_made) == ([figure], 5)


@pytest.mark.tf
def test_grade_json_lists_the_figures_of_a_lesson_run(tmp_path: Path) -> None:
    solution = (ROOT / "lessons" / "assign-the-model.py").read_text()
    solution = solution.replace("build_model()\nmodel.fit(", "model = build_model()\nhistory = model.fit(")
    learner = tmp_path / "attempt.py"
    learner.write_text(
        solution
        + "\nimport matplotlib.pyplot as plt\nplt.plot(history.history['loss'])\nplt.title('loss')\nplt.show()\n"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "tutor", "grade", str(learner), "--lesson", "assign-the-model", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    verdict = json.loads(completed.stdout)
    assert verdict["passed"] is True, verdict["checks"]
    case = verdict["cases"][0]
    assert case["figures"] == [
        {"index": 1, "how": "shown", "width": 640, "height": 480, "bytes": case["figures"][0]["bytes"]}
    ]
    assert 0 < case["figures"][0]["bytes"] <= MAX_FIGURE_BYTES
    assert base64.b64decode(case["result"]["figures"][0]["png"]).startswith(PNG_SIGNATURE)
