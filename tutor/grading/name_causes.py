"""The sentences of each cause: given the facts about a missing name (tutor.grading.name_error gathers them),
what went wrong (the diagnosis, without the fix) and the fix, as (head, tail) pairs, with the cause they name."""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tutor.grading.bindings import (
    CONDITIONAL_BLOCKS,
    LOAD_CALLS,
    Binding,
    BindingCollector,
    commented_out_assignment,
)
from tutor.grading.imports import (
    PYTHON2_NAMES,
    ImportHint,
    find_misleading_import,
    keras_names,
    module_attributes,
    suggest_import,
)
from tutor.grading.similar import Similar, attribute_path, instance_of, methods_used_on
from tutor.lessons.causes import NameCause

MODEL_METHODS = {"fit", "predict", "evaluate", "compile", "summary", "save", "save_weights", "load_weights"}
Sentences = list[tuple[str, str]]  # (head, tail): the tail, if any, is the part that tells the fix


def natural_list(items, conjunction: str = "and") -> str:
    """Items as English lists them: "A", "A and B", "A, B and C" ("or" for alternatives)."""
    items = [str(item) for item in items]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def code_list(names, conjunction: str = "and") -> str:
    """Names as code, listed: "`Dense`", "`Dense` and `Input`", "`A`, `B` and `C`"."""
    return natural_list((f"`{name}`" for name in names), conjunction)


@dataclass
class Facts:
    """Everything one explanation is read from."""

    analysis: Any  # tutor.grading.name_error.NameAnalysis
    tree: ast.AST
    source: str
    collector: BindingCollector
    similar: list[Similar]
    hint: ImportHint | None
    traceback_text: str
    where: Callable[[int], str]

    def at(self, line: int | None) -> str:
        return f" {self.on(line)}" if line else ""

    def on(self, line: int) -> str:
        """ "on line 5", "in cell 2, line 1"."""
        text = self.where(line)
        return f"on {text}" if text.startswith("line") else f"in {text}"

    def cap(self, line: int) -> str:
        text = self.where(line)
        return text[:1].upper() + text[1:]

    def lines(self, lines) -> str:
        """ "line 5", "lines 25 and 27", "lines 25, 27 and 29"; in notebooks "cell 2, line 1 and cell 3, line 4"."""
        numbers = sorted(set(lines))
        if self.where(1) != "line 1":  # notebooks: name each line fully
            return natural_list(self.where(number) for number in numbers)
        return ("line " if len(numbers) == 1 else "lines ") + natural_list(numbers)

    def on_lines(self, lines) -> str:
        """ "on lines 25 and 27", "in cell 2, line 1"."""
        text = self.lines(lines)
        return f"on {text}" if text.startswith("line") else f"in {text}"


def explain_lambda_global(f: Facts) -> tuple[NameCause, Sentences, list[str]]:
    name, line = f.analysis.name, f.analysis.line
    here = f.cap(line) if line else "Your program"
    head = (
        f"{here} loads a saved model, and Keras rebuilds it layer by layer. One of its `Lambda` layers runs a "
        f"Python function that uses `{name}`, a global name of the script that built the model; this script "
        f"has no `{name}`, so rebuilding that layer fails"
    )
    better = (
        " Better, replace the `Lambda` by a small layer class registered with "
        "`@keras.saving.register_keras_serializable()`, which saves its own code."
    )
    if f.hint is not None:
        return (
            NameCause.LAMBDA_GLOBAL,
            [(head, f". Add `{f.hint.statement}` before loading the model." + better)],
            [f.hint.statement],
        )
    tail = f". Define `{name}` in this script before loading the model, as the training script did." + better
    return NameCause.LAMBDA_GLOBAL, [(head, tail)], []


def explain_unbound_local(f: Facts, module_level: list[Binding], in_functions: list[Binding]):
    a = f.analysis
    name, line = a.name, a.line
    local = [b for b in in_functions if b.scope == a.function and b.kind != "parameter"]
    if not local:
        return None
    if module_level:
        return NameCause.LOCAL_SCOPE, [(
            f"`{name}` is assigned inside `{a.function}()` ({f.where(local[0].line)}), so Python treats it as a "
            f"local variable of the whole function, and {f.where(line)} reads it before that assignment",
            ". Give the local a different name, or pass the value in as a parameter.",
        )], []  # fmt: skip
    dels = [b for b in a.bindings if b.kind == "del" and b.scope == a.function and line and b.line < line]
    if dels:
        return _deleted_sentences(f, dels[-1])
    earlier = [b for b in local if line is None or b.line < line]
    if earlier and all(b.conditional in CONDITIONAL_BLOCKS for b in earlier):
        return _branch_not_taken(f, earlier)
    return NameCause.USED_BEFORE_ASSIGNED, [(
        f"`{name}` is assigned inside `{a.function}()` ({f.where(local[0].line)}), so Python treats it as a "
        f"local variable of the whole function, and {f.where(line)} reads it before that assignment",
        f". Assign `{name}` before {f.where(line)} reads it.",
    )], []  # fmt: skip


def explain_deleted(f: Facts, module_level: list[Binding]):
    line = f.analysis.line
    scopes = {"module", f.analysis.function}
    dels = [b for b in f.analysis.bindings if b.kind == "del" and b.scope in scopes and (line is None or b.line < line)]
    if not dels:
        return None
    last_del = dels[-1]
    if any(last_del.line < b.line < (line or 10**9) and b.conditional not in CONDITIONAL_BLOCKS for b in module_level):
        return None  # created again after the del
    return _deleted_sentences(f, last_del)


def _deleted_sentences(f: Facts, deletion: Binding):
    name, line = f.analysis.name, f.analysis.line
    return NameCause.DELETED, [(
        f"{f.cap(deletion.line)} deletes `{name}` (`del {name}`); from then on the name does not exist, so "
        f"{f.where(line) if line else 'a later line'} cannot use it",
        f". Remove the `del`, or use `{name}` only before it.",
    )], []  # fmt: skip


def explain_module_level(f: Facts, module_level: list[Binding]):
    a = f.analysis
    name, line = a.name, a.line
    before = [b for b in module_level if line is None or b.line < line]
    loads = [b for b in before if b.call in LOAD_CALLS and b.conditional == "try"]
    if loads:
        load = loads[-1]
        handler = f" the `except` {f.on(load.handler_line)}" if load.handler_line else " its `except`"
        return NameCause.LOAD_FAILED, [(
            f"`{name}` is assigned {f.on(load.line)} by `{load.call}(...)` inside a `try` block. Loading "
            f"failed there, so that assignment never happened, and{handler} went on without giving `{name}` a "
            f"value; {f.where(line) if line else 'the next use'} then has no `{name}`",
            f". Give `{name}` a value in the `except` branch too (build a new model there), or catch only the "
            "errors you expect and let any other stop the program.",
        )], []  # fmt: skip
    if line is not None and not before:
        first = module_level[0]
        verb = "imports" if first.kind == "import" else "assigns"
        return NameCause.USED_BEFORE_ASSIGNED, [(
            f"`{name}` is used{f.at(line)}, but the first line that {verb} it at module level is "
            f"{f.where(first.line)}, which runs later. Python runs a script top to bottom.",
            f" Move {f.where(first.line)} (and what it needs) above {f.where(line)}.",
        )], []  # fmt: skip
    conditional = [b for b in before if b.conditional in CONDITIONAL_BLOCKS]
    if conditional or not before:
        return _branch_not_taken(f, conditional or module_level)
    blocks = sorted({b.conditional for b in module_level if b.conditional})
    inside = (" inside " + natural_list(f"{_article(kind)} `{kind}` block" for kind in blocks)) if blocks else ""
    return NameCause.USED_BEFORE_ASSIGNED, [(
        f"`{name}` is assigned {f.on_lines(b.line for b in module_level)}{inside}, but that assignment had not "
        f"happened by the time {f.where(line) if line else 'its use'} ran.", "",
    )], []  # fmt: skip


def _article(word: str | None) -> str:
    return "an" if (word or "")[:1] in "aeiou" else "a"


def _branch_not_taken(f: Facts, bindings: list[Binding], when: str = ""):
    """``name`` is assigned only in blocks that may not run (``bindings``), and none of them ran: say which
    blocks, why they did not run this time (conditions false, a loop over nothing, a ``try`` that raised),
    and how every path gets the name."""
    name, line = f.analysis.name, f.analysis.line
    when = when or (f"For this call of `{f.analysis.function}()`" if f.analysis.function else "For this run")
    use = f"{f.where(line)} then finds no `{name}`" if line else f"its use then finds no `{name}`"
    why, fix = _why_not_run(f, bindings, when)
    return NameCause.BRANCH_NOT_TAKEN, [(f"{why}; {use}", ". " + fix)], []


def _why_not_run(f: Facts, bindings: list[Binding], when: str, assigned: str = "") -> tuple[str, str]:
    """What kept every one of ``bindings`` from running, and the fix, from the blocks around them. ``when``:
    "For this run"; ``assigned``: what the assignments are ("`model` is assigned on lines 25 and 27")."""
    name = f.analysis.name
    assigned = assigned or f"`{name}` is assigned {f.on_lines(b.line for b in bindings)}"
    nodes = _block_nodes(f.tree)
    kinds = {b.conditional for b in bindings}
    found = [nodes.get((b.conditional, b.block_line)) for b in bindings]
    if kinds == {"if"} and all(found):
        heads = {id(_chain_head(node, nodes)) for node in found}
        if len(heads) == 1:
            return _if_chain_not_run(f, bindings, found, when, assigned)
    if len(kinds) == 1 and all(found) and len({id(node) for node in found}) == 1:
        node, kind = found[0], bindings[0].conditional
        if kind == "for" and all(_in_body(b.line, node.body) or b.line == node.lineno for b in bindings):
            over = _short(f.source, node.iter)
            plain = isinstance(node.iter, ast.Name | ast.Attribute)
            empty = (
                f"`{over}` {'was empty' if plain else 'gave no items'}" if over else "what it loops over gave no items"
            )
            target = next((b for b in bindings if b.line == node.lineno), None)
            head = (
                f"`{name}` is the variable of the `for` loop {f.on(node.lineno)}"
                if target is not None
                else f"{assigned}, inside the `for` loop {f.on(node.lineno)}"
            )
            first = min(b.line for b in bindings)
            if target is None and _leaves_early(node, first):  # `continue`/`break` above the assignment
                empty = f"{empty}, or every pass left the body before {f.where(first)} (`continue`/`break`)"
                return (
                    f"{head}. {when}, the loop body never reached the assignment: {empty}",
                    f"Make sure `{name}` has a value on every path through the loop, and when it runs zero times: "
                    "assign it on a line that always runs, or stop with a clear message when there is nothing "
                    "to loop over.",
                )
            return (
                f"{head}. {when}, {empty}, so the loop body never ran",
                f"Make sure `{name}` has a value even when the loop runs zero times: check that there is something "
                "to loop over before the loop (and stop with a clear message when there is not), or assign "
                f"`{name}` outside the loop, on a line that always runs.",
            )
        if kind == "while" and all(_in_body(b.line, node.body) for b in bindings):
            return (
                f"{assigned}, inside the `while` loop {f.on(node.lineno)}. {when}, its condition was false "
                "from the start, so the loop body never ran",
                f"Make sure `{name}` has a value even when the loop runs zero times: assign it outside the loop, "
                "on a line that always runs.",
            )
        if kind == "try":
            handler = f"the `except` {f.on(bindings[0].handler_line)}" if bindings[0].handler_line else "its `except`"
            return (
                f"{assigned}, inside a `try` block ({f.where(node.lineno)}). {when}, a line of that block "
                f"raised before the assignment was done, so the rest of the block was skipped, and {handler} went "
                f"on without giving `{name}` a value",
                f"Give `{name}` a value in the `except` branch too, or catch only the errors you expect and let "
                "any other stop the program.",
            )
        if kind == "except":
            return (
                f"{assigned}, inside an `except` block ({f.where(node.lineno)}), which runs only when the `try` "
                f"above it raises an error it catches. {when}, it raised none",
                f"Make sure every path assigns `{name}`: assign it in the `try` block (or its `else`) too, or "
                "assign it on a line that always runs.",
            )
    blocks = natural_list(f"{_article(kind)} `{kind}`" for kind in sorted(kinds))
    return (
        f"{assigned}, inside blocks that may not run ({blocks}). {when}, none of those assignments ran",
        f"Make sure every path through those blocks assigns `{name}` (an `else` branch that assigns it too, "
        "for example), or assign it on a line that always runs.",
    )


def _if_chain_not_run(
    f: Facts, bindings: list[Binding], found: list[ast.If], when: str, assigned: str
) -> tuple[str, str]:
    """``name`` assigned in some branches of one ``if``/``elif``/``else`` chain: which branch ran instead."""
    name = f.analysis.name
    branches = [_chain_head(found[0], _block_nodes(f.tree))]
    while len(branches[-1].orelse) == 1 and isinstance(branches[-1].orelse[0], ast.If):
        branches.append(branches[-1].orelse[0])
    last = branches[-1]
    has_else = bool(last.orelse)
    else_line = _else_line(f.source, last) if has_else else None
    # Which parts assign it: a branch's own body, or the final `else`.
    assigning: set[int] = set()  # indexes into branches; len(branches) stands for the `else`
    for binding, node in zip(bindings, found, strict=True):
        index = next(i for i, branch in enumerate(branches) if branch is node)
        assigning.add(index if _in_body(binding.line, node.body) else len(branches))

    def label(index: int) -> str:
        if index == len(branches):
            return f"the `else` {f.on(else_line)}"
        return f"the `{'if' if index == 0 else 'elif'}` {f.on(branches[index].lineno)}"

    parts = list(range(len(branches) + (1 if has_else else 0)))
    inside = natural_list(label(i) for i in sorted(assigning))
    head = f"{assigned}, inside {inside}"
    others = [label(i) for i in parts if i not in assigning]
    always = (
        "or assign it unconditionally, outside the `if`. A placeholder value would only move the error to the "
        "next line that uses it."
    )
    if not others:  # every branch assigns it, and there is no `else`
        count = len(branches)
        if count == 1:
            why = "its condition was false, so the block did not run, and there is no `else`"
        elif count == 2:
            why = "both conditions were false, so neither branch ran, and there is no `else`"
        else:
            why = f"all {count} conditions were false, so none of the branches ran, and there is no `else`"
        return (
            f"{head}. {when}, {why}",
            f"Make sure every path assigns `{name}`: add an `else` branch that assigns it too, {always}",
        )
    todo = [f"assign it in {natural_list(others, 'and in')} too"]
    if not has_else:
        todo.append("add an `else` branch that assigns it")
    fix = f"Make sure every path assigns `{name}`: {natural_list(todo)}, {always}"
    if len(branches) in assigning:  # the `else` assigns it: a branch above it ran instead
        lead = ""
    else:
        lead = ("its condition was" if len(assigning) == 1 else "their conditions were") + " false, so "
    if len(others) == 1:
        why = f"{lead}{others[0]} ran instead, and it does not assign `{name}`"
    else:
        why = f"{lead}Python took a branch that does not assign `{name}` ({natural_list(others, 'or')})"
    if not has_else:
        why += " — or no branch ran at all, as there is no `else`"
    return f"{head}. {when}, {why}", fix


BLOCK_KINDS = {ast.If: "if", ast.For: "for", ast.AsyncFor: "for", ast.While: "while", ast.Try: "try"}
if hasattr(ast, "TryStar"):
    BLOCK_KINDS[ast.TryStar] = "try"


def _block_nodes(tree: ast.AST) -> dict[tuple[str, int], ast.AST]:
    """The blocks a binding may sit in, by (kind, line): as tutor.grading.bindings records them."""
    nodes: dict[tuple[str, int], ast.AST] = {}
    for node in ast.walk(tree):
        kind = "except" if isinstance(node, ast.ExceptHandler) else BLOCK_KINDS.get(type(node))
        if kind is not None:
            nodes.setdefault((kind, node.lineno), node)
    return nodes


def _chain_head(node: ast.If, nodes: dict[tuple[str, int], ast.AST]) -> ast.If:
    """The ``if`` an ``elif`` belongs to (an ``elif`` is an ``if`` alone in the ``orelse`` of the one above)."""
    parents = {
        id(other.orelse[0]): other
        for other in nodes.values()
        if isinstance(other, ast.If) and len(other.orelse) == 1 and isinstance(other.orelse[0], ast.If)
    }
    while id(node) in parents:
        node = parents[id(node)]
    return node


def _leaves_early(loop: ast.AST, line: int) -> bool:
    """A ``continue`` or ``break`` of ``loop`` (not of a loop inside it) above ``line``."""
    pending = list(loop.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Continue, ast.Break)) and node.lineno < line:
            return True
        if not isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef)):
            pending += [
                child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt | ast.excepthandler)
            ]
    return False


def _in_body(line: int, body: list[ast.stmt]) -> bool:
    return bool(body) and body[0].lineno <= line <= (body[-1].end_lineno or body[-1].lineno)


def _else_line(source: str, node: ast.If) -> int:
    """The line of the ``else:`` of ``node`` (the syntax tree keeps only the lines of what is under it)."""
    lines = source.splitlines()
    start = (node.body[-1].end_lineno or node.body[-1].lineno) + 1
    for number in range(start, node.orelse[0].lineno + 1):
        if 0 < number <= len(lines) and lines[number - 1].lstrip().startswith("else"):
            return number
    return node.orelse[0].lineno


def _short(source: str, node: ast.AST, limit: int = 40) -> str | None:
    """``node`` as written, when it is short enough to quote."""
    text = " ".join((ast.get_source_segment(source, node) or "").split())
    return text if text and len(text) <= limit else None


def explain_only_in_functions(f: Facts, in_functions: list[Binding]):
    a = f.analysis
    name, line = a.name, a.line
    made_global = {b.scope for b in a.bindings if b.kind == "global"}
    creators = [b for b in in_functions if b.scope in made_global and b.kind != "parameter"]
    if creators:
        return _global_never_made(f, creators[0])
    outside = _outside_its_class(f, in_functions)
    if outside is not None:
        return outside
    parts: Sentences = []
    functions = sorted({b.scope for b in in_functions})
    names = code_list(f"{function}()" for function in functions)
    # When the result is kept already, under another name, "assign the result" is not the fix.
    tail = "" if a.kept_as else "; return it and assign the result at module level."
    parts.append((
        f"`{name}` is assigned only inside {names}. A name assigned in a function is local to it and "
        "is gone when the function returns" + ("." if not tail else ""), tail
    ))  # fmt: skip
    if a.kept_as:
        kept = a.kept_as[-1]
        parts.append((
            f"{f.cap(kept.line)} keeps what `{kept.function}()` returns as `{kept.target}`, but "
            f"{f.where(line) if line else 'your code'} asks for `{name}`",
            f": use one name in both places, for example `{name} = {kept.function}()`.",
        ))  # fmt: skip
        return NameCause.MISSPELLED, parts, [kept.target]
    for call in a.discarded_calls:
        if line is None or call.line < line:
            parts.append((
                f"{f.cap(call.line)} calls `{call.function}()`, which returns a value, but the result is not kept",
                f": write `{name} = {call.function}()`.",
            ))  # fmt: skip
            return NameCause.DISCARDED_RESULT, parts, [f"{name} = {call.function}()"]
    paths = [s for s in f.similar if s.kind == "attribute" and _reachable(s.text, a.function)]
    if paths:
        return _misspelled(f, paths)
    return NameCause.LOCAL_SCOPE, parts, []


def _outside_its_class(f: Facts, in_functions: list[Binding]):
    """``self.model.fit(...)`` at module level: ``self`` is the first parameter of a class's methods, and
    exists only while one runs. Out here the object has the name it was kept under: ``trainer = Trainer()``."""
    a = f.analysis
    name, line = a.name, a.line
    if any(b.kind != "parameter" for b in in_functions):
        return None
    classes: list[tuple[ast.ClassDef, set[str]]] = []  # each class with `name` first, and its methods
    for node in ast.walk(f.tree):
        if isinstance(node, ast.ClassDef):
            methods = {
                item.name
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                and [*item.args.posonlyargs, *item.args.args][:1]
                and [*item.args.posonlyargs, *item.args.args][0].arg == name
                and not any(getattr(d, "id", None) in ("staticmethod", "classmethod") for d in item.decorator_list)
            }
            if methods:
                classes.append((node, methods))
    if not classes or any(a.function in methods for _, methods in classes):
        return None
    paths = _paths_on_line(f.tree, name, line)
    used = {path.split(".")[1] for path in paths if "." in path}
    instances = _module_instances(f.tree, {cls.name for cls, _ in classes}, line)

    def score(cls: ast.ClassDef) -> tuple[bool, bool]:
        stored = {
            path.split(".", 1)[1]
            for node in ast.walk(cls)
            if isinstance(node, ast.Attribute) and (path := attribute_path(node)) and path.startswith(name + ".")
        } | {item.name for item in cls.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        return (bool(used & stored), any(kept[1] == cls.name for kept in instances))

    cls = max((cls for cls, _ in classes), key=score)  # the first class, among the best
    example = max(paths, key=len, default="")
    head = (
        f"`{name}` is used{f.at(line)}, outside the class: `{name}` exists only inside the methods of "
        f"`{cls.name}` (it is their first parameter, the object the method was called on)"
    )
    kept = [instance for instance in instances if instance[1] == cls.name]
    if kept:
        target, _, kept_line = kept[-1]
        rewritten = f" (`{target}{example[len(name) :]}`)" if example else ""
        return NameCause.LOCAL_SCOPE, [(
            f"{head}; out here the object is `{target}` ({f.where(kept_line)})",
            f". Write `{target}` where you wrote `{name}`{rewritten}.",
        )], [target]  # fmt: skip
    target = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.name).lower()
    target = target if target != name else "obj"
    init = next((item for item in cls.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
    takes = init is not None and (len(init.args.args) > 1 or init.args.vararg or init.args.kwonlyargs)
    create = f"{target} = {cls.name}({'...' if takes else ''})"
    rewritten = f" (`{target}{example[len(name) :]}`)" if example else ""
    return NameCause.LOCAL_SCOPE, [(
        f"{head}; out here no object of `{cls.name}` exists yet",
        f". Create the object first, for example `{create}`, and write its name where you wrote `{name}`{rewritten}.",
    )], [create]  # fmt: skip


def _paths_on_line(tree: ast.AST, name: str, line: int | None) -> list[str]:
    """The attribute paths from ``name`` used on ``line``: ``self.model.fit``."""
    return [
        path
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and (line is None or node.lineno == line)
        and (path := attribute_path(node))
        and path.startswith(name + ".")
    ]


def _module_instances(tree: ast.AST, classes: set[str], line: int | None) -> list[tuple[str, str, int]]:
    """``trainer = Trainer(...)`` at module level (under ``if``/``with``/``try`` too), before ``line``:
    (name, class, line), in order."""
    found = []
    pending = list(getattr(tree, "body", []))
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        made = instance_of(node, classes)
        if made is not None and (line is None or node.lineno < line):
            found.append((*made, node.lineno))
        for field in ("body", "orelse", "finalbody", "handlers"):
            pending += [child for child in getattr(node, field, []) if isinstance(child, ast.AST)]
    return sorted(found, key=lambda item: item[2])


def _global_never_made(f: Facts, creator: Binding):
    """``global model`` in ``load()``: the global exists once ``load()`` has run. Did it, before the use?"""
    name, line = f.analysis.name, f.analysis.line
    function = creator.scope
    calls = sorted(
        node.lineno
        for node in ast.walk(f.tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == function or getattr(node.func, "attr", None) == function)
    )
    makes = f"`{function}()` creates the global `{name}` ({f.where(creator.line)})"
    if not calls:
        return NameCause.NEVER_ASSIGNED, [(
            f"{makes}, but nothing in your code calls `{function}()`, so `{name}` is never created",
            f". Call `{function}()` before {f.where(line) if line else 'the first use'}.",
        )], [f"{function}()"]  # fmt: skip
    if line is not None and all(call > line for call in calls):
        return NameCause.USED_BEFORE_ASSIGNED, [(
            f"{makes}, but the first call to `{function}()` is {f.where(calls[0])}, which runs after "
            f"{f.where(line)}",
            f". Call `{function}()` before {f.where(line)}.",
        )], []  # fmt: skip
    if creator.conditional in CONDITIONAL_BLOCKS:
        why, fix = _why_not_run(f, [creator], f"When `{function}()` ran", makes)
        return NameCause.BRANCH_NOT_TAKEN, [(why, ". " + fix)], []
    return NameCause.USED_BEFORE_ASSIGNED, [(
        f"{makes}, but `{function}()` had not run yet when {f.where(line) if line else 'your code'} needed it",
        f". Make sure `{function}()` runs before {f.where(line) if line else 'the use'}.",
    )], []  # fmt: skip


def _reachable(path: str, function: str | None) -> bool:
    """``self.model`` is the fix only inside a method; at module level an instance's path is."""
    return function is not None or not path.startswith("self.")


def explain_bound_nowhere(f: Facts):
    a = f.analysis
    name = a.name
    if name in PYTHON2_NAMES:
        modern = PYTHON2_NAMES[name]
        return NameCause.MISSPELLED, [(
            f"`{name}` is used{f.at(a.line)}: that is Python 2's name, and this is Python 3, where it is "
            f"called `{modern}`",
            f". Write `{modern}` instead of `{name}`.",
        )], [modern]  # fmt: skip
    hint = f.hint
    close = [s for s in f.similar if s.kind != "attribute" or _reachable(s.text, a.function)]
    if hint is not None and _fits_import(f, hint):
        alias = find_misleading_import(name, hint, f.tree, f.source)
        if alias is not None and alias.text.startswith("import ") and len(alias.binds) == 1:
            other = alias.binds[0]  # `import tensorflow as tf`, then `tensorflow.keras`
            return NameCause.MISSPELLED, [(
                f"`{name}` is used{f.at(a.line)}, but {f.where(alias.line)} imports it under another name: "
                f"`{alias.text}` binds `{other}`, not `{name}`",
                f". Write `{other}` instead of `{name}`.",
            )], [other]  # fmt: skip
        parts: Sentences = [(f"`{name}` is used{f.at(a.line)} but never imported.", "")]
        if alias is not None:
            binds = code_list(alias.binds)
            parts.append((
                f"{f.cap(alias.line)}, `{alias.text}`, binds only {binds}: an import binds the names after "
                f"`import` (or after `as`), never `{name}`.", ""
            ))  # fmt: skip
        through_tf = _through_tensorflow(f, hint)
        if through_tf is not None:
            tf_line, tf_text, tf_binds, path = through_tf
            module = "Keras" if hint.module == "keras" else f"`{hint.module}`"
            parts.append((
                f"{f.cap(tf_line)}, `{tf_text}`, {tf_binds}: through it, {module} is `{path}`, not `{name}`.", ""
            ))  # fmt: skip
        if name == "K":
            parts.append(("`K` is the usual short name for Keras's backend module.", ""))
        if through_tf is not None and name == "keras":
            example = max(_paths_on_line(f.tree, name, a.line), key=len, default="")
            instead = f"Write `{path}` where you wrote `{name}`" + (
                f" (`{path}{example[len(name) :]}`)" if example else ""
            )
            parts.append(("", f"{instead}, or add `{hint.statement}` at the top of the file."))
        else:
            parts.append(("", f"Add `{hint.statement}` at the top of the file."))
        if through_tf is not None and name != "keras":
            parts.append(("", f"Or write `{path}` where you wrote `{name}`: {f.where(tf_line)} imports TensorFlow."))
        same_module = hint.module.rsplit(".", 1)[-1]
        if alias is not None and hint.kind == "module" and same_module in alias.binds and same_module != name:
            parts.append(("", f"Or write `{same_module}` where you wrote `{name}`: {f.where(alias.line)} binds that."))
        used = methods_used_on(f.tree, name).get(name, set()) & set(alias.binds if alias else ())
        if alias is not None and used:
            direct = sorted(used)[0]
            parts.append(("", f"Or call `{direct}` directly: {f.where(alias.line)} imported that name already."))
        return NameCause.NOT_IMPORTED, parts, [hint.statement] + ([through_tf[3]] if through_tf else [])
    if close:
        return _misspelled(f, close)
    named = [c for c in a.discarded_calls if name.lower() in c.function.lower() and (a.line is None or c.line < a.line)]
    if named:  # `build_model()` on its own line, `model` never assigned: the function returns it, unkept
        call = named[-1]
        return (
            NameCause.DISCARDED_RESULT,
            [
                (f"`{name}` is used{f.at(a.line)} but never assigned anywhere in your code.", ""),
                (
                    f"{f.cap(call.line)} calls `{call.function}()`, which returns a value, but the result is not kept",
                    f": write `{name} = {call.function}()`.",
                ),
            ],
            [f"{name} = {call.function}()"],
        )
    typo = _keras_typo(f)
    if typo is not None:
        right, right_hint = typo
        return NameCause.MISSPELLED, [(
            f"`{name}` is used{f.at(a.line)} but never assigned or imported anywhere in your code. Did you mean "
            f"Keras's `{right}`?", f" Write `{right}`, imported with `{right_hint.statement}`."
        )], [right, right_hint.statement]  # fmt: skip
    parts = [(f"`{name}` is used{f.at(a.line)} but never assigned or imported anywhere in your code.", "")]
    commented = commented_out_assignment(f.source, name)
    if commented is not None:
        parts.append((f"{f.cap(commented)}, which would create it, is commented out.", ""))
    if hint is not None:
        parts.append((f"If it is the module, it is usually imported with `{hint.statement}`.", ""))
    for node in getattr(f.tree, "body", []):
        if isinstance(node, ast.ImportFrom) and node.module and any(alias.name == "*" for alias in node.names):
            parts.append((
                f"{f.cap(node.lineno)}, `from {node.module} import *`, binds only what `{node.module}` creates at its "
                f"top level: a `{name}` made there inside a function, or under `if __name__ == \"__main__\":`, "
                "is not brought in.", ""
            ))  # fmt: skip
            break
    return NameCause.NEVER_ASSIGNED, parts, [hint.statement] if hint else []


def _through_tensorflow(f: Facts, hint: ImportHint) -> tuple[int, str, str, str] | None:
    """``import tensorflow as tf`` in the file, and a Keras module missing: through ``tf`` it is ``tf.keras``
    (``tf.keras.layers``...). (line, the import as written, "binds only `tf`", the path), or None."""
    if hint.kind != "module" or not (hint.module == "keras" or hint.module.startswith("keras.")):
        return None
    for node in ast.walk(f.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tensorflow":
                    bound = alias.asname or alias.name
                    text = " ".join((ast.get_source_segment(f.source, node) or f"import {alias.name}").split())
                    binds = f"binds only `{bound}`" if len(node.names) == 1 else f"binds `{bound}` for TensorFlow"
                    return node.lineno, text, binds, f"{bound}.{hint.module}"
    return None


def _fits_import(f: Facts, hint: ImportHint) -> bool:
    """A module name used with attributes that module does not have is not that module: `models.fit(...)`
    wants a model (a typo of `model`), not `keras.models`."""
    # Only against a name the file has that it could be a slip of: old code calls Keras 2 functions
    # (`K.set_value`) that today's module lacks, and is still missing an import.
    if not any(s.kind in ("case", "spelling") for s in f.similar):
        return True
    attributes = module_attributes(f.analysis.name) if hint.kind == "module" else None
    used = methods_used_on(f.tree, f.analysis.name).get(f.analysis.name, set())
    if attributes and used and not used & attributes:
        return False
    # `Model.fit(...)` next to a `model` the file has: a model's methods on a class name are a case slip.
    return not (hint.kind == "class" and used & MODEL_METHODS)


def _keras_typo(f: Facts) -> tuple[str, ImportHint] | None:
    """`Sequental` for `Sequential`: a close spelling of a Keras name the file never imported."""
    # Classes and functions only: `model` is far more often the learner's own name than a slip of `models`.
    names = sorted(name for name, entry in keras_names().items() if entry["kind"] != "module")
    close = difflib.get_close_matches(f.analysis.name, names, n=1, cutoff=0.85)
    hint = suggest_import(close[0], f.tree) if close else None
    return (close[0], hint) if hint is not None else None


def _misspelled(f: Facts, similar: list[Similar]):
    name, line = f.analysis.name, f.analysis.line
    best = similar[0]
    where = f" ({f.where(best.line)})" if best.line else ""
    if best.kind == "attribute":
        head = (
            f"`{name}` is used{f.at(line)}, but no line creates a plain `{name}`: the object lives at "
            f"`{best.text}`{where}"
        )
        tail = f". Write `{best.text}` where you wrote `{name}`."
    elif best.kind == "methods":
        shared = code_list(f".{m}" for m in best.methods)
        head = (
            f"`{name}` is used{f.at(line)} but never assigned; `{best.text}` is, and is used with {shared} too, "
            f"so it is probably the object you mean"
        )
        tail = f". If it is, write `{best.text}` instead of `{name}`."
    else:
        head = (
            f"`{name}` is used{f.at(line)} but never assigned or imported anywhere in your code. "
            f"Did you mean `{best.text}`?"
        )
        tail = f" Use one spelling: `{best.text}`."
    return NameCause.MISSPELLED, [(head, tail)], [s.text for s in similar]
