"""Names a program reads before binding them, told from its source without running it: the express lane's
guess (predict_early_name_error) and the first NameError a run would stop with (find_static_name_error)."""

from __future__ import annotations

import ast
import builtins


def predict_early_name_error(source: str) -> bool:
    """True when the program's module-level code reads a name before anything at module level binds it
    (the NameError this app is about, raised before any training): such a run is over in a second. A
    guess from the source for the run manager's express lane; a wrong guess costs one short try."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return True  # it cannot even compile: over at once
    bound = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__", "__spec__", "__loader__"}
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and any(alias.name == "*" for alias in statement.names):
            return False  # names we cannot see
        loads, stores = _module_level_names(statement)
        if loads - bound:
            return True
        bound |= stores
    return False


def _module_level_names(statement: ast.stmt) -> tuple[set[str], set[str]]:
    """Names read and bound by one module-level statement, not looking into function or class bodies
    (they run later, or in a scope of their own)."""
    loads: set[str] = set()
    stores: set[str] = set()
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stores.add(node.name)
            pending.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            stores |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            stores.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            stores |= set(node.names)
        pending.extend(ast.iter_child_nodes(node))
    # A name bound anywhere in a compound statement (an if/else, a try/except) may be bound before it is
    # read there: only reads of names the statement never binds count.
    return loads - stores, stores


def find_static_name_error(source: str) -> tuple[str, int] | None:
    """The first name the program reads before anything binds it, as (name, line): the NameError a run
    would most likely stop with, told from the source alone (for a program that cannot run this far here,
    e.g. its data file is missing). Module-level code first, top to bottom; then the bodies of functions the
    program calls, for names neither the function nor the module binds. None when the source shows none,
    or cannot tell (``from x import *`` of a module other than Keras's, a syntax error)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    bound = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__", "__spec__", "__loader__"}
    bound |= {"get_ipython", "display", "In", "Out", "exit", "quit"}  # what IPython binds in a notebook
    for statement in tree.body:
        star = [alias for alias in getattr(statement, "names", []) if alias.name == "*"]
        if isinstance(statement, ast.ImportFrom) and star:
            names = star_import_names(statement.module or "")
            if names is None:
                return None  # names we cannot see
            bound |= names
            continue
        loads, stores = _module_level_names(statement)
        missing = loads - bound
        if missing:
            return _first_use(statement, missing)
        bound |= stores
    return _first_free_name_in_functions(tree, bound)


def star_import_names(module: str) -> set[str] | None:
    """What ``from <module> import *`` binds, for the Keras modules whose public names we know."""
    from tutor.grading.imports import keras_names, keras_top_level

    if module.startswith("tensorflow.keras"):
        module = "keras" + module[len("tensorflow.keras") :]
    parts = module.split(".")
    if parts[0] != "keras":
        return None
    if len(parts) == 1:
        return keras_top_level()
    entry = keras_names().get(parts[-1])
    if entry is None or entry.get("kind") != "module":
        return None
    return set(entry.get("attributes") or [])


def _first_use(node: ast.AST, names: set[str]) -> tuple[str, int]:
    first = min(
        (item for item in ast.walk(node) if isinstance(item, ast.Name) and item.id in names),
        key=lambda item: (item.lineno, item.col_offset),
    )
    return first.id, first.lineno


def _first_free_name_in_functions(tree: ast.Module, module_bound: set[str]) -> tuple[str, int] | None:
    """A name a called function reads that nothing binds: not the function, not the module (anywhere)."""
    everywhere = set(module_bound)
    for statement in tree.body:
        everywhere |= _module_level_names(statement)[1]
    # Called, or handed over to be called (`loss=rmse`, `Lambda(scale)`, `callbacks=[on_end]`): any use.
    called = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    called |= {
        node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    candidates: list[tuple[int, int, str]] = []
    for function in _functions(tree):
        if function.name not in called:
            continue
        local = _bound_inside(function)
        for node in ast.walk(function):
            free = isinstance(node, ast.Name) and node.id not in local and node.id not in everywhere
            if free and isinstance(node.ctx, ast.Load):
                candidates.append((node.lineno, node.col_offset, node.id))
    if not candidates:
        return None
    line, _, name = min(candidates)
    return name, line


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions at module level and methods of module-level classes (nested ones are part of them)."""
    found = []
    for statement in ast.walk(tree):
        if isinstance(statement, ast.ClassDef | ast.Module):
            found += [item for item in statement.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)]
    return found


def _bound_inside(function: ast.AST) -> set[str]:
    """Every name bound anywhere inside a function (its nested functions, lambdas, comprehensions too)."""
    names: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node is not function:
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names |= set(node.names)
    return names
