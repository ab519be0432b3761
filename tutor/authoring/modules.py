"""A project draft's modules in the lesson studio (no Streamlit): read one module of the starter or the solution,
write it back, add, rename and delete a module in both texts at once, and read or set the TOML's
``[project] entry`` (and ``starter_fails_with.file``, kept with a renamed module).

The texts stay the truth, as for notebook cells: each is one text with a ``# ==> name.py <==`` header per module
(tutor.lessons.project), and an unchanged module leaves its text exactly as it was. The TOML is edited line by
line, so the teacher's comments and layout stay; an edit that would not read back as meant is refused.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace

from tutor.lessons.files import Draft
from tutor.lessons.project import (
    HEADER,
    MAX_MODULES,
    MODULE_NAME,
    TAKEN,
    join_modules,
    module_names,
    module_text,
    parse_modules,
    replace_module,
)

FILES = ("starter", "solution")  # a project draft's texts made of modules


class ModuleError(ValueError):
    """A module operation refused, and why, in words for the teacher."""


def draft_modules(draft: Draft) -> list[str]:
    """The starter's modules, then any the solution has besides (they should be the same: the schema says so)."""
    names = module_names(draft.starter)
    return names + [name for name in module_names(draft.solution) if name not in names]


def has_header(source: str) -> bool:
    """A module's text holds a header line: written back, it splits into more modules."""
    return any(HEADER.match(line) for line in source.split("\n"))


def set_module(text: str, name: str, source: str) -> str:
    """The text with ``name`` holding ``source`` (added at the end when missing). An edit that changes nothing but
    final new lines leaves the text exactly as it was."""
    current = module_text(text, name)
    if current is not None and current.rstrip("\n") == source.rstrip("\n"):
        return text
    if current is None:
        return join_modules([(m.name, m.source) for m in parse_modules(text)] + [(name, source)])
    return replace_module(text, name, source)


def normal_name(raw: str) -> str:
    """A module name as typed ("data", " data.py ") as a file name (data.py)."""
    name = raw.strip()
    return name if name.endswith(".py") else f"{name}.py"


def name_problem(name: str, existing: list[str]) -> str | None:
    """Why ``name`` cannot be a new module's name (None: it can)."""
    if not MODULE_NAME.match(name):
        return f"{name!r} is not a Python module file name: letters, digits and _, e.g. data_utils.py"
    if name.removesuffix(".py") in TAKEN:
        return f"{name} would hide Python's or an installed package's own {name.removesuffix('.py')}: pick another name"
    if name in existing:
        return f"the project has a module {name} already"
    return None


def add_module(draft: Draft, raw_name: str) -> tuple[Draft, str]:
    """The draft with a new, empty module at the end of the starter and the solution; and its name."""
    name = normal_name(raw_name)
    if not raw_name.strip():
        raise ModuleError("Type the new module's name first, e.g. data_utils.py.")
    existing = draft_modules(draft)
    problem = name_problem(name, existing)
    if problem:
        raise ModuleError(f"Not added: {problem}.")
    if len(existing) >= MAX_MODULES:
        raise ModuleError(f"Not added: a project has at most {MAX_MODULES} modules.")
    texts = {attr: set_module(getattr(draft, attr), name, "") for attr in FILES}
    return replace(draft, **texts), name


def rename_module(draft: Draft, old: str, raw_name: str) -> tuple[Draft, str]:
    """The draft with ``old`` renamed in the starter and the solution, and in the TOML where it names it
    (``[project] entry``, ``starter_fails_with.file``); and the new name."""
    name = normal_name(raw_name)
    if not raw_name.strip():
        raise ModuleError(f"Type the new name of {old} first.")
    if name == old:
        raise ModuleError(f"{old} has that name already.")
    problem = name_problem(name, [n for n in draft_modules(draft) if n != old])
    if problem:
        raise ModuleError(f"Not renamed: {problem}.")
    texts = {attr: _renamed(getattr(draft, attr), old, name) for attr in FILES}
    toml = draft.toml
    for table, key in (("project", "entry"), ("starter_fails_with", "file")):
        if toml_string(toml, table, key) == old:
            toml = set_toml_string(toml, table, key, name)
    return replace(draft, toml=toml, **texts), name


def _renamed(text: str, old: str, new: str) -> str:
    modules = parse_modules(text)
    if not any(m.name == old for m in modules):
        return text
    return join_modules([(new if m.name == old else m.name, m.source) for m in modules])


def delete_module(draft: Draft, name: str) -> Draft:
    """The draft without ``name`` in the starter and the solution (never the program's entry, nor the last)."""
    names = draft_modules(draft)
    if name == project_entry(draft.toml):
        raise ModuleError(f"Not deleted: {name} is the module run as the program; make another one the entry first.")
    if names == [name]:
        raise ModuleError(f"Not deleted: {name} is the project's only module.")
    texts = {}
    for attr in FILES:
        modules = parse_modules(getattr(draft, attr))
        kept = [(m.name, m.source) for m in modules if m.name != name]
        texts[attr] = join_modules(kept) if len(kept) < len(modules) else getattr(draft, attr)
    return replace(draft, **texts)


def project_entry(toml: str) -> str | None:
    """The TOML's ``[project] entry`` (None while it does not read, or says none)."""
    return toml_string(toml, "project", "entry")


def set_entry(toml: str, name: str) -> str:
    return set_toml_string(toml, "project", "entry", name)


def toml_string(toml: str, table: str, key: str) -> str | None:
    try:
        value = tomllib.loads(toml).get(table, {}).get(key)
    except (tomllib.TOMLDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


_TABLE = re.compile(r"^\s*\[\s*(?P<name>[^\[\]#]+?)\s*\]\s*(#.*)?$")
_ANY_TABLE = re.compile(r"^\s*\[")


def set_toml_string(toml: str, table: str, key: str, value: str) -> str:
    """The TOML with ``[table] key = "value"``: the key's line changed in place (its comment kept), added below the
    table's header, or the table added at the end. ModuleError when the TOML does not read as that afterwards
    (it did not read before, or a multi-line string fooled the line search)."""
    if not MODULE_NAME.match(value):  # a module name needs no escaping in a TOML string
        raise ModuleError(f"{value!r} is not a module file name")
    lines = toml.split("\n")
    start = next((n for n, line in enumerate(lines) if (m := _TABLE.match(line)) and m.group("name") == table), None)
    if start is None:
        ending = "" if toml.endswith("\n") else "\n"
        edited = f'{toml}{ending}\n[{table}]\n{key} = "{value}"\n'
    else:
        end = next((n for n in range(start + 1, len(lines)) if _ANY_TABLE.match(lines[n])), len(lines))
        line_of_key = re.compile(rf"^(\s*{re.escape(key)}\s*=\s*)(\"[^\"\n]*\"|'[^'\n]*')?(.*)$")
        at = next((n for n in range(start + 1, end) if line_of_key.match(lines[n])), None)
        if at is None:
            lines.insert(start + 1, f'{key} = "{value}"')
        else:
            match = line_of_key.match(lines[at])
            assert match is not None
            rest = match.group(3) if match.group(2) is not None else ""
            lines[at] = f'{match.group(1)}"{value}"{rest}'
        edited = "\n".join(lines)
    if toml_string(edited, table, key) != value:
        raise ModuleError(
            f"Could not set [{table}] {key} in the TOML: write it there (or fix the TOML's problems, listed below it)"
        )
    return edited
