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
    """The first name the program's module-level code reads before anything at module level binds it, as
    (name, line): the NameError a run would most likely stop with, told from the source alone (for a program
    that cannot run this far here, e.g. its data file is missing). None when the source shows none, or
    cannot tell (``from x import *``, a syntax error)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    bound = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__", "__spec__", "__loader__"}
    bound |= {"get_ipython", "display", "In", "Out", "exit", "quit"}  # what IPython binds in a notebook
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and any(alias.name == "*" for alias in statement.names):
            return None
        loads, stores = _module_level_names(statement)
        missing = loads - bound
        if missing:
            first = min(
                (node for node in ast.walk(statement) if isinstance(node, ast.Name) and node.id in missing),
                key=lambda node: (node.lineno, node.col_offset),
            )
            return first.id, first.lineno
        bound |= stores
    return None
