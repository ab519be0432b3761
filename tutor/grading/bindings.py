"""Where a program binds (and unbinds) one name, from its source: the facts a NameError's cause is read from.

One pass over the syntax tree collects every binding of the name (assignment, import, def, parameter...) with
its scope and the block around it, ``del`` statements, ``name == value`` written as a statement, calls whose
result is thrown away or kept under another name, and ``load_model(...)`` assignments inside ``try``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# Blocks whose body may not run: a binding inside one is conditional. (`with` always runs its body.)
CONDITIONAL_BLOCKS = ("if", "try", "except", "for", "while")
# Calls that load a saved object: a failed one inside `try` leaves the name unbound.
LOAD_CALLS = {"load_model", "load", "model_from_json", "load_weights", "from_pretrained", "load_state_dict"}


@dataclass
class Binding:
    line: int
    kind: str  # assignment, import, def, class, for, with, except, parameter, walrus, global, del
    scope: str  # "module" or the function's name
    conditional: str | None = None  # the innermost enclosing block in its scope: if, try, except, for, while, with
    call: str | None = None  # for `name = f(...)`: the called function's last name (`load_model`)
    block_line: int | None = None  # the line of that enclosing block (the `try`, the `if`)
    handler_line: int | None = None  # for a binding in a `try` body: the first `except` line


@dataclass
class DiscardedCall:
    line: int
    function: str  # a function of the learner's that returns a value, called as a bare statement


@dataclass
class KeptCall:
    line: int
    target: str  # the other name a module-level ``target = function()`` kept the result under
    function: str  # a function of the learner's that returns a value


@dataclass(frozen=True)
class Comparison:
    line: int
    scope: str
    text: str  # `model == build_model()` as written


def called_name(node: ast.AST) -> str | None:
    """``load_model`` for ``keras.models.load_model(...)`` or ``load_model(...)``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


class BindingCollector(ast.NodeVisitor):
    def __init__(self, name: str, source: str = "") -> None:
        self.name = name
        self.source = source
        self.bindings: list[Binding] = []
        self.all_names: set[str] = set()
        self.returning_functions: set[str] = set()
        self.returned_names: dict[str, set[str]] = {}  # function -> the plain names its `return`s give back
        self.bare_calls: list[DiscardedCall] = []
        self.kept_calls: list[KeptCall] = []
        self.comparisons: list[Comparison] = []
        self._scope: list[str] = []
        self._blocks: list[tuple[int, str, int, int | None]] = []  # (scope depth, kind, line, handler line)
        self._value_call: str | None = None

    @property
    def scope(self) -> str:
        return self._scope[-1] if self._scope else "module"

    def _bind(self, name: str, line: int, kind: str) -> None:
        self.all_names.add(name)
        if name == self.name:
            block = next((b for b in reversed(self._blocks) if b[0] == len(self._scope)), None)
            self.bindings.append(
                Binding(
                    line, kind, self.scope, block[1] if block else None, self._value_call,
                    block[2] if block else None, block[3] if block else None,
                )
            )  # fmt: skip

    def _visit_function(self, node) -> None:
        self._bind(node.name, node.lineno, "def")
        if any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(node)) and not self._scope:
            self.returning_functions.add(node.name)
            self.returned_names[node.name] = {
                n.value.id for n in ast.walk(node) if isinstance(n, ast.Return) and isinstance(n.value, ast.Name)
            }
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg]:
            if arg is None:
                continue
            self._scope.append(node.name)
            self._bind(arg.arg, node.lineno, "parameter")
            self._scope.pop()
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._scope.append(node.name)
        for statement in node.body:
            self.visit(statement)
        self._scope.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scope.append("<lambda>")
        self.generic_visit(node)
        self._scope.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bind(node.name, node.lineno, "class")
        self._scope.append(node.name)
        self.generic_visit(node)
        self._scope.pop()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Del):
            self._bind(node.id, node.lineno, "del")
        elif isinstance(node.ctx, ast.Store):
            self._bind(node.id, node.lineno, "assignment")

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind(node.target.id, node.lineno, "walrus")
        self.visit(node.value)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind(alias.asname or alias.name.split(".")[0], node.lineno, "import")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self._bind(alias.asname or alias.name, node.lineno, "import")

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name == self.name:
                self.bindings.append(Binding(node.lineno, "global", self.scope))

    def visit_Assign(self, node: ast.Assign) -> None:
        call = node.value
        if (
            not self._scope
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
        ):
            self.kept_calls.append(KeptCall(node.lineno, node.targets[0].id, call.func.id))
        self.visit(node.value)
        self._value_call = called_name(node.value)
        for target in node.targets:
            self.visit(target)
        self._value_call = None

    def visit_Expr(self, node: ast.Expr) -> None:
        value = node.value
        if not self._scope and isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            self.bare_calls.append(DiscardedCall(node.lineno, value.func.id))
        if (
            isinstance(value, ast.Compare)
            and isinstance(value.left, ast.Name)
            and value.left.id == self.name
            and len(value.ops) == 1
            and isinstance(value.ops[0], ast.Eq)
        ):
            text = ast.get_source_segment(self.source, value) or f"{self.name} == ..."
            self.comparisons.append(Comparison(node.lineno, self.scope, " ".join(text.split())))
        self.generic_visit(node)

    def _block(self, kind: str, node: ast.AST, handler_line: int | None = None) -> None:
        self._blocks.append((len(self._scope), kind, node.lineno, handler_line))
        self.generic_visit(node)
        self._blocks.pop()

    def visit_If(self, node: ast.If) -> None:
        self._block("if", node)

    def visit_Try(self, node: ast.Try) -> None:
        handler = node.handlers[0].lineno if node.handlers else None
        self._blocks.append((len(self._scope), "try", node.lineno, handler))
        for statement in node.body:
            self.visit(statement)
        self._blocks.pop()
        for part in [*node.handlers, *node.orelse, *node.finalbody]:
            if isinstance(part, ast.ExceptHandler):
                if part.name:
                    self._blocks.append((len(self._scope), "except", part.lineno, None))
                    self._bind(part.name, part.lineno, "except")
                    self._blocks.pop()
                self._block("except", part)
            else:
                self._blocks.append((len(self._scope), "try", node.lineno, handler))
                self.visit(part)
                self._blocks.pop()

    visit_TryStar = visit_Try

    def visit_For(self, node: ast.For) -> None:
        self._block("for", node)

    visit_AsyncFor = visit_For

    def visit_While(self, node: ast.While) -> None:
        self._block("while", node)

    def visit_With(self, node: ast.With) -> None:
        self._block("with", node)

    visit_AsyncWith = visit_With


def commented_out_assignment(source: str, name: str) -> int | None:
    """The line of a commented-out ``# name = ...`` (code that once created the name), if any."""
    pattern = re.compile(r"^\s*#+\s*([A-Za-z_][\w\s,]*?)\s*=(?!=)")
    for number, text in enumerate(source.splitlines(), start=1):
        match = pattern.match(text)
        if match and name in [part.strip() for part in match.group(1).split(",")]:
            return number
    return None
