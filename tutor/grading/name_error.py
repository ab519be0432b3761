"""Static analysis behind a NameError: where (if anywhere) the missing name is bound.

The runtime says *that* ``model`` was missing on line 25; the source says *why*: it is never assigned,
assigned only later, assigned only inside a function, or the result of ``build_model()`` was thrown away.
"""

from __future__ import annotations

import ast
import builtins
import difflib
from dataclasses import asdict, dataclass, field

# Names learners use without importing them, and the import that provides each.
KNOWN_IMPORTS = {
    "tf": "import tensorflow as tf",
    "keras": "from tensorflow import keras",
    "layers": "from tensorflow.keras import layers",
    "models": "from tensorflow.keras import models",
    "optimizers": "from tensorflow.keras import optimizers",
    "callbacks": "from tensorflow.keras import callbacks",
    "np": "import numpy as np",
}


@dataclass
class Binding:
    line: int
    kind: str  # assignment, import, def, class, for, with, except, parameter, walrus, global
    scope: str  # "module" or the function's name
    conditional: str | None = None  # the enclosing block at module level: if, try, for, while, with


@dataclass
class DiscardedCall:
    line: int
    function: str  # a function of the learner's that returns a value, called as a bare statement


@dataclass
class KeptCall:
    line: int
    target: str  # the other name a module-level ``target = function()`` kept the result under
    function: str  # a function of the learner's that returns a value


@dataclass
class NameAnalysis:
    name: str
    line: int | None
    bindings: list[Binding] = field(default_factory=list)
    discarded_calls: list[DiscardedCall] = field(default_factory=list)
    kept_as: list[KeptCall] = field(default_factory=list)  # the result kept, under another name
    similar: list[str] = field(default_factory=list)
    summary: str = ""
    diagnosis: str = ""  # the summary without the fix (tutor.grading.name_error.diagnose)
    fix: str = ""  # the fix alone, in whole sentences ("" when the analysis has none)
    function: str | None = None
    unbound_local: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class _BindingCollector(ast.NodeVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.bindings: list[Binding] = []
        self.all_names: set[str] = set()
        self.returning_functions: set[str] = set()
        self.bare_calls: list[DiscardedCall] = []
        self.kept_calls: list[KeptCall] = []
        self._scope: list[str] = []
        self._blocks: list[str] = []

    def _bind(self, name: str, line: int, kind: str) -> None:
        self.all_names.add(name)
        if name == self.name:
            scope = self._scope[-1] if self._scope else "module"
            conditional = self._blocks[-1] if (self._blocks and not self._scope) else None
            self.bindings.append(Binding(line, kind, scope, conditional))

    def _visit_function(self, node) -> None:
        self._bind(node.name, node.lineno, "def")
        if any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(node)) and not self._scope:
            self.returning_functions.add(node.name)
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
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
        if isinstance(node.ctx, (ast.Store, ast.Del)):
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
                scope = self._scope[-1] if self._scope else "module"
                self.bindings.append(Binding(node.lineno, "global", scope))

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._bind(node.name, node.lineno, "except")
        self._block("try", node)

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
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        call = node.value
        if not self._scope and isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
            self.bare_calls.append(DiscardedCall(node.lineno, call.func.id))
        self.generic_visit(node)

    def _block(self, kind: str, node: ast.AST) -> None:
        self._blocks.append(kind)
        self.generic_visit(node)
        self._blocks.pop()

    def visit_If(self, node: ast.If) -> None:
        self._block("if", node)

    def visit_Try(self, node: ast.Try) -> None:
        self._block("try", node)

    visit_TryStar = visit_Try

    def visit_For(self, node: ast.For) -> None:
        self._block("for", node)

    def visit_While(self, node: ast.While) -> None:
        self._block("while", node)

    def visit_With(self, node: ast.With) -> None:
        self._block("with", node)


def analyze_name_error(
    source: str, name: str, line: int | None, function: str | None = None, unbound_local: bool = False
) -> NameAnalysis:
    """Explain a NameError for ``name`` raised on ``line`` (inside ``function``, if given) from the
    program's source alone. ``unbound_local``: it was an UnboundLocalError."""
    analysis = NameAnalysis(name=name, line=line, function=function, unbound_local=unbound_local)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        analysis.summary = analysis.diagnosis = f"`{name}` is not defined at line {line}."
        return analysis
    collector = _BindingCollector(name)
    collector.visit(tree)
    analysis.bindings = sorted(collector.bindings, key=lambda b: b.line)
    analysis.discarded_calls = [c for c in collector.bare_calls if c.function in collector.returning_functions]
    # Only a function that makes the missing name itself (its local `model`) returns what was asked for.
    making = {b.scope for b in analysis.bindings if b.scope != "module"} & collector.returning_functions
    analysis.kept_as = [
        c for c in collector.kept_calls if c.function in making and c.target != name and (line is None or c.line < line)
    ]
    candidates = (collector.all_names | set(dir(builtins))) - {name}
    analysis.similar = difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.75)
    analysis.summary = summarize(analysis)
    analysis.diagnosis = diagnose(analysis)
    analysis.fix = suggest_fix(analysis)
    return analysis


def summarize(analysis: NameAnalysis) -> str:
    """The whole explanation: what went wrong, and how to fix it."""
    return " ".join(head + tail for head, tail in _sentences(analysis))


def diagnose(analysis: NameAnalysis) -> str:
    """What went wrong, without the sentence endings that give the fix away (teach before telling:
    the fix is the last hint's job, or the verdict's once the learner has really tried)."""
    return " ".join(head + ("." if tail else "") for head, tail in _sentences(analysis))


def suggest_fix(analysis: NameAnalysis) -> str:
    """The fix sentences alone, each a whole sentence: "Write `model = build_model()`." """
    tails = [tail.lstrip(";:. ") for _, tail in _sentences(analysis) if tail]
    return " ".join(tail[:1].upper() + tail[1:] for tail in tails)


def _sentences(analysis: NameAnalysis) -> list[tuple[str, str]]:
    """(head, tail) per sentence: the tail, if any, is the part that tells the fix."""
    name, line = analysis.name, analysis.line
    at = f" on line {line}" if line else ""
    module_level = [b for b in analysis.bindings if b.scope == "module" and b.kind != "global"]
    in_functions = [b for b in analysis.bindings if b.scope != "module" and b.kind != "global"]
    parts: list[tuple[str, str]] = []
    local = [b for b in in_functions if b.scope == analysis.function and b.kind != "parameter"]
    if analysis.unbound_local and local:
        return [
            (
                f"`{name}` is assigned inside `{analysis.function}()` (line {local[0].line}), so Python treats it "
                f"as a local variable of the whole function, and line {line} reads it before that assignment",
                ". Give the local a different name, or pass the value in as a parameter.",
            )
        ]
    if not analysis.bindings:
        parts.append((f"`{name}` is used{at} but never assigned or imported anywhere in your code.", ""))
        if name in KNOWN_IMPORTS:
            parts.append((f"It is usually imported with `{KNOWN_IMPORTS[name]}`.", ""))
    elif module_level and line is not None and all(b.line > line for b in module_level):
        first = module_level[0]
        parts.append((
            f"`{name}` is used{at}, but the first line that assigns it at module level is line "
            f"{first.line}, which runs later. Python runs a script top to bottom.", ""
        ))  # fmt: skip
    elif module_level:
        lines = ", ".join(str(b.line) for b in module_level)
        blocks = sorted({b.conditional for b in module_level if b.conditional})
        where = f" inside a `{'`/`'.join(blocks)}` block" if blocks else ""
        parts.append((
            f"`{name}` is assigned on line {lines}{where}, but that assignment had not happened by the "
            f"time line {line} ran.", ""
        ))  # fmt: skip
    elif in_functions:
        functions = sorted({b.scope for b in in_functions})
        names = ", ".join(f"`{f}()`" for f in functions)
        # When the result is kept already, under another name, "assign the result" is not the fix.
        tail = "" if analysis.kept_as else "; return it and assign the result at module level."
        parts.append((
            f"`{name}` is assigned only inside {names}. A name assigned in a function is local to it and "
            "is gone when the function returns" + ("." if not tail else ""), tail
        ))  # fmt: skip
    if analysis.kept_as and not module_level:
        kept = analysis.kept_as[-1]
        parts.append((
            f"Line {kept.line} keeps what `{kept.function}()` returns as `{kept.target}`, but line {line} asks "
            f"for `{name}`", f": use one name in both places, for example `{name} = {kept.function}()`."
        ))  # fmt: skip
    for call in analysis.discarded_calls if not module_level else []:
        if line is None or call.line < line:
            parts.append((
                f"Line {call.line} calls `{call.function}()`, which returns a value, but the result is not kept",
                f": write `{name} = {call.function}()`.",
            ))  # fmt: skip
            break
    if analysis.similar and not analysis.bindings and not analysis.kept_as:  # a typo: the name is bound nowhere
        parts.append((f"Did you mean `{analysis.similar[0]}`?", ""))
    return parts


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
