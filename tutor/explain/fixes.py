"""Mechanical fixes, applied only where they are safe: the missing import added at the top, ``==`` made ``=``
in ``model == build_model()``, a bare ``build_model()`` call made ``model = build_model()``. Each edit is
checked by compiling the result; anything less certain gets no fixed source (the fix sentence still says it)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tutor.lessons.causes import NameCause

PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


@dataclass(frozen=True)
class Edit:
    line: int  # 1-based
    start: int | None = None  # UTF-8 byte offsets in that line (ast's columns); None: insert ``text`` as a line
    end: int | None = None
    text: str = ""


def fix_source(
    source: str,
    name: str,
    cause: str,
    line: int | None,
    suggestions: list[str],
    discarded: list[tuple[int, str]],
    parse_source: str | None = None,
) -> str | None:
    """``source`` with the fix for ``cause`` applied, or None when there is no safe mechanical one. ``line``
    and the ``discarded`` calls' (line, function) are ``source``'s lines; ``parse_source`` is the same text as
    Python reads it, line for line (a notebook cell with its magics made ``pass``), when it differs."""
    parse_source = source if parse_source is None else parse_source
    tree = _parse(parse_source)
    if tree is None:
        return None
    edit: Edit | None = None
    if cause == NameCause.NOT_IMPORTED:
        statement = next((s for s in suggestions if _imports(s, name)), None)
        if statement is not None:
            edit = Edit(_first_code_line(tree, parse_source), text=statement)
    elif cause == NameCause.COMPARED_NOT_ASSIGNED:
        edit = _find_comparison(tree, parse_source, name, line)
    elif cause == NameCause.DISCARDED_RESULT:
        for call_line, function in discarded:
            if line is None or call_line < line:
                edit = _keep_result(tree, name, call_line, function)
                break
    if edit is None or _parse(apply_edit(parse_source, edit)) is None:
        return None
    return apply_edit(source, edit)


def apply_edit(source: str, edit: Edit) -> str:
    lines = source.split("\n")
    if edit.start is None:
        lines.insert(edit.line - 1, edit.text)
        return "\n".join(lines)
    raw = lines[edit.line - 1].encode("utf-8")
    lines[edit.line - 1] = (raw[: edit.start] + edit.text.encode("utf-8") + raw[edit.end :]).decode("utf-8", "replace")
    return "\n".join(lines)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except PARSE_ERRORS:
        return None


def _imports(statement: str, name: str) -> bool:
    """One import statement, on one line, that binds ``name``."""
    if not statement or "\n" in statement or not statement.lstrip().startswith(("import ", "from ")):
        return False
    tree = _parse(statement)
    if tree is None or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Import | ast.ImportFrom):
        return False
    return any((alias.asname or alias.name.split(".")[0]) == name for alias in tree.body[0].names)


def _first_code_line(tree: ast.Module, source: str) -> int:
    """Where an import goes "at the top": after a docstring and ``from __future__`` imports."""
    for index, node in enumerate(tree.body):
        docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (docstring or future):
            return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return len(source.rstrip("\n").split("\n")) + 1


def _find_comparison(tree: ast.Module, source: str, name: str, line: int | None) -> Edit | None:
    """``name == value`` written as a statement, at module level, up to the error's line: ``==`` -> ``=``."""
    for node in tree.body:
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Compare)):
            continue
        compare = node.value
        left, ops = compare.left, compare.ops
        if not (isinstance(left, ast.Name) and left.id == name and len(ops) == 1 and isinstance(ops[0], ast.Eq)):
            continue
        right = compare.comparators[0]
        if (line is not None and node.lineno > line) or left.end_lineno != right.lineno:
            continue
        # Between the two operands there are only ``==``, spaces and parentheses: edit the ``==`` alone.
        raw = source.split("\n")[right.lineno - 1].encode("utf-8")
        start, end = left.end_col_offset or 0, right.col_offset
        offset = raw.find(b"==", start, end)
        if offset < 0:
            return None
        return Edit(right.lineno, offset, offset + 2, "=")
    return None


def _keep_result(tree: ast.Module, name: str, line: int, function: str) -> Edit | None:
    """``function()`` as a statement on ``line`` at module level: ``name = function()``."""
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if (
            node.lineno == line
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == function
        ):
            return Edit(line, node.col_offset, node.col_offset, f"{name} = ")
    return None
