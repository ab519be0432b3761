"""Why a name was missing in one module of a project when another module of it makes the name: the
NameError explained across modules (cause ``other-module``), from the sources alone.

One file's analysis (tutor.grading.name_error) sees no ``model`` anywhere in ``train.py`` and can only say
"never created". Across the project the cause is one of:

- the other module makes it only under ``if __name__ == "__main__":``, which does not run on import;
- the other module makes it at module level, but the failing one imports other names from it, or imports
  the module itself (``import model_def``: the name is ``model_def.model``), or does not import it at all;
- the other module makes it only inside a function, where it is local (what the function returns is it).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tutor.grading.bindings import Binding, BindingCollector
from tutor.lessons.causes import NameCause


@dataclass(frozen=True)
class ModuleImport:
    module: str  # the imported project module's name (model_def)
    line: int
    text: str  # the statement as written
    names: tuple[str, ...] = ()  # from-import: the names it binds (empty for ``import m``)
    star: bool = False  # ``from m import *``
    alias: str | None = None  # ``import m as md``: md; ``import m``: m


def is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (either side)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.ops) != 1:
        return False
    sides = [node.test.left, *node.test.comparators]
    names = [side for side in sides if isinstance(side, ast.Name) and side.id == "__name__"]
    texts = [side for side in sides if isinstance(side, ast.Constant) and side.value == "__main__"]
    return isinstance(node.test.ops[0], ast.Eq) and len(names) == 1 and len(texts) == 1


def main_guard_lines(tree: ast.Module) -> list[tuple[int, int]]:
    """The (first, last) lines of each module-level ``if __name__ == "__main__":`` block."""
    return [(node.lineno, node.end_lineno or node.lineno) for node in tree.body if is_main_guard(node)]


def project_imports(tree: ast.Module, source: str, modules: set[str]) -> list[ModuleImport]:
    """The failing module's imports of other project modules, anywhere in it, in line order."""
    found = []
    for node in ast.walk(tree):
        text = (ast.get_source_segment(source, node) or "").split("\n")[0]
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
            star = any(alias.name == "*" for alias in node.names)
            names = tuple(alias.asname or alias.name for alias in node.names if alias.name != "*")
            found.append(ModuleImport(node.module, node.lineno, text, names, star))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.append(ModuleImport(alias.name, node.lineno, text, alias=alias.asname or alias.name))
    return sorted(found, key=lambda item: item.line)


def explain_across_modules(sources: dict[str, str], failing: str, name: str) -> dict | None:
    """The analysis (as NameAnalysis.to_dict has it) when ``name``, missing in module ``failing``, is made in
    another module of the project and ``failing`` makes it nowhere itself; else None."""
    trees = {}
    for module, source in sources.items():
        try:
            trees[module] = ast.parse(source)
        except (SyntaxError, ValueError):
            return None
    if failing not in trees:
        return None
    own = BindingCollector(name, sources[failing])
    own.visit(trees[failing])
    if own.bindings:
        return None  # the failing module makes it somewhere: its own analysis says why that did not count
    import_names = {module.removesuffix(".py"): module for module in sources if module != failing}
    imports = project_imports(trees[failing], sources[failing], set(import_names))
    for import_name, module in import_names.items():
        collector = BindingCollector(name, sources[module])
        collector.visit(trees[module])
        if collector.bindings:
            found = [item for item in imports if item.module == import_name]
            return _explain(name, failing, module, collector.bindings, main_guard_lines(trees[module]), found)
    return None


def _explain(
    name: str, failing: str, module: str, bindings: list[Binding], guards: list[tuple[int, int]],
    imports: list[ModuleImport],
) -> dict:  # fmt: skip
    stem = module.removesuffix(".py")
    at_top = [b for b in bindings if b.scope == "module"]
    guarded = [b for b in at_top if any(first <= b.line <= last for first, last in guards)]
    plain_top = [b for b in at_top if b not in guarded]
    brought = imports[0] if imports else None
    how = f" (line {brought.line} of {failing}: `{brought.text}`)" if brought else ""
    if guarded and not plain_top:
        line = guarded[0].line
        diagnosis = (
            f"`{failing}` imports `{stem}`{how}, but in `{module}` the name `{name}` is made only under "
            f'`if __name__ == "__main__":` (line {line} of {module}). That block runs only when `{module}` '
            f'itself is the program (`python {module}`); when another file imports it, `__name__` is `"{stem}"`, '
            f"the block is skipped, and `{stem}` has no `{name}` to give."
            if brought
            else f'`{module}` makes `{name}` only under `if __name__ == "__main__":` (line {line} of {module}), '
            f"which runs only when `{module}` itself is the program, and `{failing}` does not import `{stem}` at all."
        )
        call = guarded[0].call
        made = f"`{name} = {call}()` (with `{call}` imported from `{stem}`)" if call else f"`{name} = ...`"
        fix = (
            f"Make `{name}` where it is used: in `{failing}`, {made}; or move that line of `{module}` out of the "
            '`if __name__ == "__main__":` block.'
        )
    elif plain_top:
        line = plain_top[0].line
        diagnosis, fix = _not_brought(name, failing, module, stem, line, imports)
    else:
        local = bindings[0]
        line = local.line
        diagnosis = (
            f"`{module}` makes `{name}` only inside its function `{local.scope}()` (line {line} of {module}), "
            f"where it is a local name: it disappears when the function returns, and no other module can import it."
        )
        fix = f"Keep what `{local.scope}()` returns in `{failing}`: `{name} = {local.scope}()` (import it first)."
    places = [
        {"line": b.line, "kind": b.kind, "scope": b.scope, "place": f"line {b.line} of {module}"} for b in bindings[:8]
    ]
    return {
        "name": name, "line": None, "bindings": places, "discarded_calls": [], "kept_as": [], "similar": [],
        "summary": f"{diagnosis} {fix}", "diagnosis": diagnosis, "fix": fix, "function": None,
        "unbound_local": False, "cause": str(NameCause.OTHER_MODULE), "suggestions": [],
        "module": module, "module_line": line,
    }  # fmt: skip


def _not_brought(
    name: str, failing: str, module: str, stem: str, line: int, imports: list[ModuleImport]
) -> tuple[str, str]:
    whole = next((item for item in imports if item.alias), None)
    named = next((item for item in imports if item.names and not item.star), None)
    star = next((item for item in imports if item.star), None)
    made = f"`{module}` makes `{name}` (line {line} of {module})"
    if whole is not None:
        return (
            f"{made}, and `{failing}` imports the module itself (line {whole.line} of {failing}: `{whole.text}`): "
            f"that binds only the name `{whole.alias}`; what the module made is an attribute of it, "
            f"`{whole.alias}.{name}`.",
            f"Write `{whole.alias}.{name}`, or import the name itself: `from {stem} import {name}`.",
        )
    if named is not None:
        listed = ", ".join(f"`{item}`" for item in named.names)
        return (
            f"{made}, but `{failing}` imports only {listed} from it (line {named.line} of {failing}: "
            f"`{named.text}`): a `from ... import` binds exactly the names it lists.",
            f"Add it to that import: `from {stem} import {', '.join((*named.names, name))}`.",
        )
    if star is not None:
        return (
            f"{made}, but `from {stem} import *` (line {star.line} of {failing}) leaves it out: `{stem}` lists "
            f"what `*` gives in `__all__`, or `{name}` starts with an underscore.",
            f"Import it by name: `from {stem} import {name}`.",
        )
    return (
        f"{made}, but `{failing}` never imports `{stem}`: each module has its own names, and one module's "
        "names are not another's until it imports them.",
        f"Import it: `from {stem} import {name}`.",
    )
