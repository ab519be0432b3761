"""The sentences of each cause: given the facts about a missing name (tutor.grading.name_error gathers them),
what went wrong (the diagnosis, without the fix) and the fix, as (head, tail) pairs, with the cause they name."""

from __future__ import annotations

import ast
import difflib
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
from tutor.grading.similar import Similar, methods_used_on
from tutor.lessons.causes import NameCause

MODEL_METHODS = {"fit", "predict", "evaluate", "compile", "summary", "save", "save_weights", "load_weights"}
Sentences = list[tuple[str, str]]  # (head, tail): the tail, if any, is the part that tells the fix


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
    lines = ", ".join(str(b.line) for b in module_level)
    if f.where(1) != "line 1":  # notebooks: name each line fully
        lines = "in " + ", ".join(f.where(b.line) for b in module_level)
    else:
        lines = "on line " + lines
    blocks = sorted({b.conditional for b in module_level if b.conditional})
    inside = f" inside {_article(blocks[0])} `{'`/`'.join(blocks)}` block" if blocks else ""
    head = (
        f"`{name}` is assigned {lines}{inside}, but that assignment had not happened by the time "
        f"{f.where(line) if line else 'its use'} ran."
    )
    if any(b.conditional in CONDITIONAL_BLOCKS for b in before) or not before:
        tail = (
            f" Give `{name}` a value on every path (before the block, or in an `else`/`except` branch), or stop "
            "with a clear message when that branch does not run."
        )
        return NameCause.BRANCH_NOT_TAKEN, [(head[:-1], "." + tail)], []
    return NameCause.USED_BEFORE_ASSIGNED, [(head, "")], []


def _article(word: str | None) -> str:
    return "an" if (word or "")[:1] in "aeiou" else "a"


def _branch_not_taken(f: Facts, bindings: list[Binding]):
    name, line = f.analysis.name, f.analysis.line
    block = bindings[-1]
    kind = block.conditional
    return NameCause.BRANCH_NOT_TAKEN, [(
        f"`{name}` is assigned {f.on(block.line)} inside {_article(kind)} `{kind}` block, which did not run "
        f"this time, so {f.where(line) if line else 'its use'} finds no `{name}`",
        f". Give `{name}` a value on every path (before the block, or in an `else` branch).",
    )], []  # fmt: skip


def explain_only_in_functions(f: Facts, in_functions: list[Binding]):
    a = f.analysis
    name, line = a.name, a.line
    made_global = {b.scope for b in a.bindings if b.kind == "global"}
    creators = [b for b in in_functions if b.scope in made_global and b.kind != "parameter"]
    if creators:
        return _global_never_made(f, creators[0])
    parts: Sentences = []
    functions = sorted({b.scope for b in in_functions})
    names = ", ".join(f"`{function}()`" for function in functions)
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
        return NameCause.BRANCH_NOT_TAKEN, [(
            f"{makes} inside {_article(creator.conditional)} `{creator.conditional}` block, which did not run "
            f"when `{function}()` was called",
            f". Give `{name}` a value on every path through `{function}()`.",
        )], []  # fmt: skip
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
            binds = ", ".join(f"`{b}`" for b in alias.binds)
            parts.append((
                f"{f.cap(alias.line)}, `{alias.text}`, binds only {binds}: an import binds the names after "
                f"`import` (or after `as`), never `{name}`.", ""
            ))  # fmt: skip
        if name == "K":
            parts.append(("`K` is the usual short name for Keras's backend module.", ""))
        parts.append(("", f"Add `{hint.statement}` at the top of the file."))
        same_module = hint.module.rsplit(".", 1)[-1]
        if alias is not None and hint.kind == "module" and same_module in alias.binds and same_module != name:
            parts.append(("", f"Or write `{same_module}` where you wrote `{name}`: {f.where(alias.line)} binds that."))
        used = methods_used_on(f.tree, name).get(name, set()) & set(alias.binds if alias else ())
        if alias is not None and used:
            direct = sorted(used)[0]
            parts.append(("", f"Or call `{direct}` directly: {f.where(alias.line)} imported that name already."))
        return NameCause.NOT_IMPORTED, parts, [hint.statement]
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
        shared = ", ".join(f"`.{m}`" for m in best.methods)
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
