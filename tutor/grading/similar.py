""" "Did you mean": where the object a missing name stands for may really live.

Three kinds of evidence, from the source (and the names the program had bound when it failed):
- spelling and case: ``modle``, ``Model`` for ``model``;
- attribute paths ending in the name: ``self.model``, ``unet_model.model`` for ``model``;
- names used with the same methods: ``model_final.predict`` elsewhere for ``model_loaded.predict``.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from dataclasses import dataclass

# Methods any object has, or too common to tell one object from another.
_COMMON_METHODS = {"append", "get", "items", "keys", "values", "copy", "format", "join", "split", "strip"}


@dataclass(frozen=True)
class Similar:
    text: str  # what to write instead: "model1", "self.model", "unet_model.model"
    kind: str  # spelling, case, attribute, methods
    line: int | None = None  # where it is assigned (or first used), if known
    methods: tuple[str, ...] = ()  # for kind "methods": the methods both are used with


def instance_of(node: ast.AST, classes: set[str]) -> tuple[str, str] | None:
    """``trainer = Trainer(...)``: (``trainer``, ``Trainer``) when the class is one of ``classes``."""
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id in classes
    ):
        return node.targets[0].id, node.value.func.id
    return None


def attribute_path(node: ast.AST) -> str | None:
    """``self.model`` for an Attribute chain of plain names, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def methods_used_on(tree: ast.AST, name: str) -> dict[str, set[str]]:
    """For every plain name, the attributes read from it (``x.fit`` -> {"x": {"fit"}})."""
    used: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and isinstance(node.ctx, ast.Load):
            used.setdefault(node.value.id, set()).add(node.attr)
    return used


def find_similar(
    tree: ast.AST, name: str, bound: Iterable[str], line: int | None = None, builtin_names: Iterable[str] = ()
) -> list[Similar]:
    """Candidates for what ``name`` should have been, best first, without repeats. ``bound``: names the
    program binds (in the source, or at run time)."""
    bound = {candidate for candidate in bound if candidate != name}
    found: list[Similar] = []
    lowered = name.lower()
    for candidate in sorted(bound):
        if candidate.lower() == lowered:
            found.append(Similar(candidate, "case"))
    found += _attribute_paths(tree, name)
    for candidate in difflib.get_close_matches(name, sorted(bound | set(builtin_names)), n=3, cutoff=0.75):
        found.append(Similar(candidate, "spelling"))
    found += _same_methods(tree, name, bound)
    unique: dict[str, Similar] = {}
    for item in found:
        unique.setdefault(item.text, item)
    return list(unique.values())


def _attribute_paths(tree: ast.AST, name: str) -> list[Similar]:
    """``x.model`` paths in the file, the assigned ones (``self.model = ...``) first."""
    assigned: dict[str, int] = {}
    read: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == name:
            path = attribute_path(node)
            if path is None:
                continue
            target = assigned if isinstance(node.ctx, ast.Store) else read
            target[path] = min(target.get(path, node.lineno), node.lineno)
    paths = [Similar(path, "attribute", line) for path, line in sorted(assigned.items(), key=lambda item: item[1])]
    paths += [Similar(path, "attribute", line) for path, line in sorted(read.items(), key=lambda i: i[1])]
    return _through_instances(tree, name, assigned) + paths


def _through_instances(tree: ast.AST, name: str, assigned: dict[str, int]) -> list[Similar]:
    """``trainer.model`` for a class whose methods set ``self.model``, kept at module level as
    ``trainer = Trainer(...)``: outside the class, that is the path to the object."""
    if f"self.{name}" not in assigned:
        return []
    classes = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(inner, ast.Attribute)
            and isinstance(inner.ctx, ast.Store)
            and attribute_path(inner) == f"self.{name}"
            for inner in ast.walk(node)
        )
    }
    found = []
    for node in getattr(tree, "body", []):
        made = instance_of(node, classes)
        if made is not None:
            found.append(Similar(f"{made[0]}.{name}", "attribute", node.lineno))
    return found


def _same_methods(tree: ast.AST, name: str, bound: set[str]) -> list[Similar]:
    used = methods_used_on(tree, name)
    wanted = used.get(name, set()) - _COMMON_METHODS
    if not wanted:
        return []
    scored = []
    for candidate in bound:
        shared = wanted & used.get(candidate, set())
        if shared:
            scored.append((-len(shared), candidate, tuple(sorted(shared))))
    return [Similar(candidate, "methods", None, shared) for _, candidate, shared in sorted(scored)[:2]]
