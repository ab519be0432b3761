"""What a notebook lesson adds to a script lesson, checked when it loads: the ``[notebook]`` table (the session
the learner's kernel went through to meet the error) and ``starter_fails_with.cell``, both against the
starter's code cells; the starter and the solution must be percent-format notebooks (tutor.lessons.cells).

Every problem is a (field, problem) pair for LessonError, as the schema's are, so a teacher reads them all at
once, with the file and the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass

from tutor.lessons.causes import NameCause
from tutor.lessons.cells import Cell, code_cells, format_problems, parse_cells
from tutor.lessons.kinds import LessonKind, SessionStep
from tutor.lessons.schema import LessonFile


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook lesson's session: code cell numbers (1-based, among code cells) and restarts, in order."""

    session: tuple[int | SessionStep, ...]

    def cells_run(self) -> tuple[int, ...]:
        return tuple(step for step in self.session if isinstance(step, int))

    def since_last_restart(self) -> tuple[int, ...]:
        """The cells the kernel that meets the error has run (those before a restart are forgotten)."""
        steps = list(self.session)
        last = max((i for i, step in enumerate(steps) if step is SessionStep.RESTART), default=-1)
        return tuple(step for step in steps[last + 1 :] if isinstance(step, int))


def notebook_problems(
    model: LessonFile, starter: str | None, solution: str | None
) -> tuple[NotebookSpec | None, list[tuple[str, str]]]:
    """The lesson's NotebookSpec (None for a script lesson) and what is wrong with the notebook fields. The
    starter and solution are None when they could not be read (that is reported already)."""
    problems: list[tuple[str, str]] = []
    expect, cell = model.starter_fails_with, model.starter_fails_with.cell
    notebook_only = f'is only for notebook lessons: add kind = "{LessonKind.NOTEBOOK}"'
    if model.kind is not LessonKind.NOTEBOOK:
        if model.notebook is not None:
            problems.append(("notebook", notebook_only))
        if cell is not None:
            problems.append(("starter_fails_with.cell", notebook_only))
        return None, problems
    if model.cause is not None and model.cause is not NameCause.NOTEBOOK_ORDER:
        # The lesson's story is its session: the name is missing because of the cells run (or not), in order.
        problems.append(("cause", f'a notebook lesson teaches "{NameCause.NOTEBOOK_ORDER}"; leave it out or write that'))
    if model.notebook is None:
        problems.append(("notebook", "is missing: a notebook lesson says which cells ran: [notebook] session = [1, 2]"))
    if cell is None:
        problems.append(("starter_fails_with.cell", "is missing: a notebook lesson names the code cell that fails"))
    parsed: dict[str, list[Cell]] = {}
    for field_name, text in (("starter_file", starter), ("solution_file", solution)):
        if text is not None:
            parsed[field_name] = parse_cells(text)
            problems += [(field_name, problem) for problem in format_problems(parsed[field_name])]
    starter_cells = code_cells(parsed.get("starter_file", []))
    if model.notebook is None or not starter_cells:
        return None, problems
    count = len(starter_cells)
    session = tuple(model.notebook.session)
    for i, step in enumerate(session):
        if isinstance(step, int) and step > count:
            problems.append((f"notebook.session[{i}]", f"the starter has no code cell {step} (it has {count})"))
    if session[-1] is SessionStep.RESTART:
        problems.append(("notebook.session", "must end with a code cell: the one that meets the error"))
    if cell is not None and cell > count:
        problems.append(("starter_fails_with.cell", f"the starter has no code cell {cell} (it has {count})"))
    elif cell is not None and cell not in session:
        problems.append(("starter_fails_with.cell", f"cell {cell} is not in notebook.session, so it never runs"))
    elif cell is not None and expect.line is not None and expect.line > len(starter_cells[cell - 1].lines):
        lines = len(starter_cells[cell - 1].lines)
        problems.append(("starter_fails_with.line", f"is counted within code cell {cell}, which has {lines} line(s)"))
    return NotebookSpec(session), problems
