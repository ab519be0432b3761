"""Project lessons as text: several modules kept in one file, each introduced by a line ``# ==> name.py <==``
(the header ``head`` and ``tail`` print between files), so every text tool of the app (content hash,
``replace`` pairs, the learner's stored code, packs) works on a project unchanged, as on a notebook's cells.

    # ==> model_def.py <==
    from keras import layers
    ...
    # ==> train.py <==
    from model_def import build_model
    ...

A module's lines are numbered from 1 below its header, as in its own file; ``join_modules(parse_modules(t))``
gives ``t`` back for every well-formed text (headers as written here, ``\\n`` line ends, one empty line
between modules, a final newline). The sandbox gets each module as a file in the program's working folder,
and runs the lesson's entry module as the program (its folder first on ``sys.path``, as ``python train.py``
has it), so ``import model_def`` finds the learner's own module.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tutor.lessons.kinds import LessonKind
from tutor.lessons.schema import MODULE_NAME_PATTERN
from tutor.sandbox.packages import OFFERED

if TYPE_CHECKING:
    from tutor.lessons.schema import LessonFile

HEADER = re.compile(r"^# ==> (?P<name>\S+) <==[ \t]*$")
MODULE_NAME = MODULE_NAME_PATTERN  # the schema's (StarterFailsWith.file, [project] entry): one definition
MAX_MODULES = 8
# Names a learner's module may not take: it would hide the package the program means to import.
TAKEN = {*sys.stdlib_module_names, *(package.import_name for package in OFFERED), "tf_keras", "tutor"}


@dataclass(frozen=True)
class Module:
    name: str  # model_def.py
    source: str  # its text, as the file would hold it (a final newline)
    first_line: int  # the line of the joined text where its first line is (1-based)

    @property
    def import_name(self) -> str:
        return self.name.removesuffix(".py")

    @property
    def lines(self) -> list[str]:
        return self.source.splitlines()


@dataclass(frozen=True)
class ProjectSpec:
    """A project lesson's modules, in the starter's order, and the one run as the program."""

    modules: tuple[str, ...]
    entry: str


def header_line(name: str) -> str:
    return f"# ==> {name} <=="


def parse_modules(text: str) -> list[Module]:
    """The modules of a project text, in order. Text before the first header (blank lines aside) is a module
    with the name "" (``module_problems`` reports it)."""
    modules: list[Module] = []
    name: str | None = None
    lines: list[str] = []
    start = 1
    for number, line in enumerate(text.split("\n"), start=1):
        match = HEADER.match(line)
        if match is None:
            lines.append(line)
            continue
        if name is not None or any(part.strip() for part in lines):
            modules.append(_module(name or "", lines, start))
        name, lines, start = match.group("name"), [], number + 1
    if name is not None or any(part.strip() for part in lines):
        modules.append(_module(name or "", lines, start))
    return modules


def _module(name: str, lines: list[str], start: int) -> Module:
    while lines and not lines[-1].strip():  # the gap before the next header is not the module's
        lines = lines[:-1]
    return Module(name, "\n".join(lines) + "\n" if lines else "", start)


def join_modules(modules: Sequence[Module] | Sequence[tuple[str, str]]) -> str:
    """One text from modules (or (name, source) pairs), headers as ``parse_modules`` reads them."""
    parts = []
    for item in modules:
        name, source = (item.name, item.source) if isinstance(item, Module) else item
        body = source.rstrip("\n")
        parts.append(header_line(name) + ("\n" + body if body else ""))
    return "\n\n".join(parts) + "\n"


def module_problems(modules: Sequence[Module]) -> list[str]:
    """What is wrong with a project text as a teacher wrote it (empty: well-formed)."""
    if not modules:
        return [f"has no modules: start each with a line {header_line('name.py')}"]
    problems = []
    if not modules[0].name:
        problems.append(f"has text before its first module: start it with a line {header_line('name.py')}")
    names = [module.name for module in modules if module.name]
    for name in names:
        if not MODULE_NAME.match(name):
            problems.append(f"module name {name!r} must be a Python module file name, e.g. model_def.py")
        elif name.removesuffix(".py") in TAKEN:
            problems.append(
                f"module name {name!r} would hide Python's or an installed package's own {name.removesuffix('.py')}"
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(f"module names must be unique; repeated: {', '.join(repeated)}")
    if len(modules) > MAX_MODULES:
        problems.append(f"has {len(modules)} modules; at most {MAX_MODULES}")
    return problems


def module_names(text: str) -> list[str]:
    """The modules of a project text with a well-formed name (``model_def.py``), in order: a header with any
    other name is the schema's problem to report, never a label or a key on a page (a pack is untrusted)."""
    return [module.name for module in parse_modules(text) if MODULE_NAME.match(module.name)]


def module_text(text: str, name: str) -> str | None:
    """A module's source; None when the text has no such module."""
    return next((module.source for module in parse_modules(text) if module.name == name), None)


def module_sources(text: str) -> dict[str, str]:
    """name -> source, for running: a learner's text that lost a header still runs what it has."""
    return {module.name: module.source for module in parse_modules(text) if module.name}


def locate_module_line(modules: Sequence[Module], line: int) -> tuple[str, int] | None:
    """(module name, line within it) for a line of the joined text; None on a header or between modules."""
    for module in modules:
        count = len(module.lines)
        if module.first_line <= line < module.first_line + count:
            return module.name, line - module.first_line + 1
    return None


def replace_module(text: str, name: str, source: str) -> str:
    """The project text with one module's source replaced (the others as they are)."""
    modules = parse_modules(text)
    return join_modules([(m.name, source if m.name == name else m.source) for m in modules])


def project_problems(
    model: LessonFile, starter: str | None, solution: str | None
) -> tuple[ProjectSpec | None, list[tuple[str, str]]]:
    """The lesson's ProjectSpec (None for another kind) and what is wrong with its project fields, as (field,
    problem) pairs. The starter and solution are None when they could not be read (that is reported already)."""
    problems: list[tuple[str, str]] = []
    only = f'is only for project lessons: add kind = "{LessonKind.PROJECT}"'
    if model.kind is not LessonKind.PROJECT:
        if model.project is not None:
            problems.append(("project", only))
        if model.starter_fails_with.file is not None:
            problems.append(("starter_fails_with.file", only))
        return None, problems
    if model.project is None:
        problems.append(
            ("project", 'is missing: a project lesson names the module that runs: [project] entry = "train.py"')
        )
    expect = model.starter_fails_with
    if expect.file is None:
        problems.append(("starter_fails_with.file", "is missing: a project lesson names the module that fails"))
    parsed: dict[str, list[Module]] = {}
    for field_name, text in (("starter_file", starter), ("solution_file", solution)):
        if text is not None:
            parsed[field_name] = parse_modules(text)
            problems += [(field_name, problem) for problem in module_problems(parsed[field_name])]
    starter_modules = [module for module in parsed.get("starter_file", []) if module.name]
    names = [module.name for module in starter_modules]
    if "solution_file" in parsed and "starter_file" in parsed:
        solution_names = [module.name for module in parsed["solution_file"] if module.name]
        if solution_names != names:
            problems.append(
                ("solution_file", f"has the modules {solution_names}; the starter has {names} (keep the same)")
            )
    if model.project is None or not names:
        return None, problems
    if model.project.entry not in names:
        problems.append(
            ("project.entry", f"the starter has no module {model.project.entry} (it has {', '.join(names)})")
        )
    if expect.file is not None and expect.file not in names:
        problems.append(
            ("starter_fails_with.file", f"the starter has no module {expect.file} (it has {', '.join(names)})")
        )
    elif expect.file is not None and expect.line is not None:
        lines = len(next(m for m in starter_modules if m.name == expect.file).lines)
        if expect.line > lines:
            problems.append(("starter_fails_with.line", f"is counted within {expect.file}, which has {lines} line(s)"))
    return ProjectSpec(tuple(names), model.project.entry), problems
