"""Replaying a notebook session on a real kernel: code cells run in a given order, with restarts between
them, exactly as a learner's clicks would. check-lessons proves a notebook lesson's starter this way (the
prescribed session meets the intended error in the intended cell), and tests use it for hidden state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tutor.kernels.contract import CellRun, CellStatus
from tutor.kernels.process import KernelProcess, KernelStartError
from tutor.sandbox.dataset import Dataset, ensure_dataset
from tutor.sandbox.isolation import Level, Limits, resolve_level

RESTART = "restart"  # a step that restarts the kernel (tutor.lessons' SessionStep.RESTART has this value)


@dataclass(frozen=True)
class StepRun:
    step: int | str  # the code cell's number (1-based), or RESTART
    run: CellRun | None  # None for a restart


def replay_session(
    cells: Sequence[str],
    steps: Sequence[int | str],
    limits: Limits,
    level: Level | None = None,
    dataset: Dataset | None = None,
    files: dict[str, bytes] | None = None,
) -> list[StepRun]:
    """Run ``steps`` (cell numbers into ``cells``, 1-based, and restarts) in a fresh kernel. A cell that
    raises does not stop the session: the learner goes on clicking, and so do we."""
    level = level or resolve_level("auto")
    dataset = dataset or ensure_dataset()
    kernel: KernelProcess | None = None
    done: list[StepRun] = []
    try:
        for step in steps:
            if not isinstance(step, int):
                if str(step) != RESTART:
                    raise ValueError(f"unknown session step {step!r}")
                if kernel is not None:
                    kernel.close()
                    kernel = None
                done.append(StepRun(RESTART, None))
                continue
            if not 1 <= step <= len(cells):
                raise ValueError(f"session step {step}: the notebook has {len(cells)} code cells")
            if kernel is None or not kernel.alive():
                if kernel is not None:
                    kernel.close()
                try:
                    kernel = KernelProcess.start(level, limits, dataset, None, files)
                except (KernelStartError, OSError) as exc:
                    done.append(
                        StepRun(step, CellRun(str(step), CellStatus.NOT_RUN, note=f"The kernel could not start: {exc}"))
                    )
                    break
            done.append(StepRun(step, kernel.execute(str(step), cells[step - 1], limits)))
    finally:
        if kernel is not None:
            kernel.close()
    return done
