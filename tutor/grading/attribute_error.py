"""Why ``model.fit`` found no ``fit``: the AttributeErrors a learner meets one step after fixing the NameError.

Three attempts come up again and again, each a listed wrong variant of a lesson:

- ``model = build_model`` (no parentheses): ``model`` is the function itself ("'function' object has no
  attribute 'fit'");
- ``model = setup()`` where ``setup()`` has no ``return``: the call gives back None ("'NoneType' object ...");
- ``model = None`` at module level as a placeholder, while the function assigns its own local ``model``.

Told from the program's source alone, like ``tutor.grading.name_error`` tells a NameError: the same dict shape
(``summary``, ``diagnosis`` without the fix, ``fix`` alone), so the verdict and the command line show it the
same way. Anything else gets no explanation (None): a wrong guess would teach the wrong thing.
"""

from __future__ import annotations

import ast
import enum
import re
from dataclasses import dataclass

from tutor.grading.explained import Explained

MESSAGE = re.compile(r"^'(function|NoneType)' object has no attribute '(\w+)'")


class AttributeCause(enum.StrEnum):
    UNCALLED_FUNCTION = "uncalled-function"
    NO_RETURN = "no-return"
    PLACEHOLDER = "placeholder"

    @property
    def label(self) -> str:
        """A few words for the teacher's "where learners are stuck" table."""
        return {
            AttributeCause.UNCALLED_FUNCTION: "the function itself, not called",
            AttributeCause.NO_RETURN: "None from a function without return",
            AttributeCause.PLACEHOLDER: "a None placeholder never replaced",
        }[self]


@dataclass(frozen=True)
class AttributeExplanation(Explained):
    kind: AttributeCause
    name: str  # the name whose attribute was asked for (``model``)
    attribute: str  # ``fit``
    line: int  # the module-level line that gave ``name`` its value
    function: str  # the function involved
    diagnosis: str
    fix: str

    def to_dict(self) -> dict:
        return self.explained_dict(str(self.kind))


def explain_attribute_error(source: str, line: int | None, message: str) -> AttributeExplanation | None:
    """An explanation of ``AttributeError: <message>`` raised on ``line``, or None when the source does
    not show one of the three known causes."""
    match = MESSAGE.match(message or "")
    if match is None or line is None:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    kind, attribute = match.groups()
    name = _object_name(tree, line, attribute)
    if name is None:
        return None
    functions = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assigned = _last_module_assignment(tree, name, line)
    if assigned is None:
        return None
    where, value = assigned
    if kind == "function" and isinstance(value, ast.Name) and value.id in functions:
        function = value.id
        return AttributeExplanation(
            AttributeCause.UNCALLED_FUNCTION, name, attribute, where, function,
            f"`{name}` holds the function `{function}` itself: line {where} writes `{name} = {function}` without "
            f"parentheses, so `{function}` was never called, and a function has no `.{attribute}`.",
            f"Call it and keep what it returns: `{name} = {function}()`.",
        )  # fmt: skip
    if kind != "NoneType":
        return None
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in functions:
        function = value.func.id
        if _returns_a_value(functions[function]):
            return None  # it returned None on some path: more than the source can tell
        local = name if name in _assigned_names(functions[function]) else None
        back = f"`return {local}`" if local else "a `return` of the value you want to keep"
        return AttributeExplanation(
            AttributeCause.NO_RETURN, name, attribute, where, function,
            f"`{name}` is None: line {where} writes `{name} = {function}()`, but `{function}()` has no `return` "
            "statement, and a function without one gives back None.",
            f"End `{function}()` with {back}.",
        )  # fmt: skip
    if isinstance(value, ast.Constant) and value.value is None:
        inside = [
            f for f, node in functions.items() if name in _assigned_names(node) and not _declares_global(node, name)
        ]
        if not inside:
            return None
        function = inside[0]
        return AttributeExplanation(
            AttributeCause.PLACEHOLDER, name, attribute, where, function,
            f"`{name}` is still the None from line {where} (`{name} = None`). The assignment to `{name}` inside "
            f"`{function}()` made a new name local to that function; the module's `{name}` never changed.",
            f"Return the model from `{function}()` and write `{name} = {function}()`.",
        )  # fmt: skip
    return None


def _object_name(tree: ast.Module, line: int, attribute: str) -> str | None:
    """The plain name on ``line`` whose ``.attribute`` was asked for (``model`` in ``model.fit(...)``)."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == attribute
            and node.lineno <= line <= (node.end_lineno or node.lineno)
            and isinstance(node.value, ast.Name)
        ):
            return node.value.id
    return None


def _last_module_assignment(tree: ast.Module, name: str, line: int) -> tuple[int, ast.expr] | None:
    """The last plain ``name = value`` at module level (not in a block) before ``line``."""
    found = None
    for statement in tree.body:
        if statement.lineno >= line:
            break
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in statement.targets
        ):
            found = (statement.lineno, statement.value)
    return found


def _own_nodes(function: ast.AST):
    """The function's own statements and expressions, not those of functions or classes inside it."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _returns_a_value(function: ast.AST) -> bool:
    return any(isinstance(node, ast.Return) and node.value is not None for node in _own_nodes(function))


def _assigned_names(function: ast.AST) -> set[str]:
    return {node.id for node in _own_nodes(function) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}


def _declares_global(function: ast.AST, name: str) -> bool:
    return any(isinstance(node, ast.Global) and name in node.names for node in _own_nodes(function))
