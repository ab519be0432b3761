"""Why a name was missing: the cause behind a NameError, told from the program's source.

The runtime says *that* ``model`` was missing on line 25; the source says *why*, as exactly one cause of
tutor.lessons.causes.NameCause: never imported (and which import would bind it), spelled otherwise or kept
under another name, never created, the result of ``build_model()`` thrown away, compared instead of
assigned, local to a function, assigned later, in a branch that did not run, deleted, a load that failed
silently, or a Lambda layer's global missing at ``load_model``. Each explanation comes as a diagnosis (what
went wrong, without the fix: teach before telling) and the fix apart.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from tutor.grading.bindings import Binding, BindingCollector, DiscardedCall, KeptCall
from tutor.grading.imports import suggest_import
from tutor.grading.name_causes import (
    Facts,
    Sentences,
    explain_bound_nowhere,
    explain_deleted,
    explain_lambda_global,
    explain_module_level,
    explain_only_in_functions,
    explain_unbound_local,
)
from tutor.grading.similar import find_similar
from tutor.grading.static import find_static_name_error, predict_early_name_error
from tutor.lessons.causes import NameCause

__all__ = ["NameAnalysis", "analyze_name_error", "find_static_name_error", "predict_early_name_error"]

LAMBDA_FRAMES = re.compile(r"lambda_layer\.py|in <lambda>|Lambda\b")
LOADING_CALL = re.compile(r"\b(load_model|model_from_json|from_config|load_weights)\s*\(")


@dataclass
class NameAnalysis:
    name: str
    line: int | None
    bindings: list[Binding] = field(default_factory=list)
    discarded_calls: list[DiscardedCall] = field(default_factory=list)
    kept_as: list[KeptCall] = field(default_factory=list)  # the result kept, under another name
    similar: list[str] = field(default_factory=list)  # close spellings (difflib), as "did you mean"
    summary: str = ""
    diagnosis: str = ""  # the summary without the fix
    fix: str = ""  # the fix alone, in whole sentences ("" when the analysis has none)
    function: str | None = None
    unbound_local: bool = False
    cause: str = ""  # a tutor.lessons.causes.NameCause value
    suggestions: list[str] = field(default_factory=list)  # "did you mean" names or imports, best first

    def to_dict(self) -> dict:
        return asdict(self)


def analyze_name_error(
    source: str,
    name: str,
    line: int | None,
    function: str | None = None,
    unbound_local: bool = False,
    *,
    traceback_text: str = "",
    runtime_names: Mapping[str, str] | None = None,
    describe_line: Callable[[int], str] | None = None,
) -> NameAnalysis:
    """Explain a NameError for ``name`` raised on ``line`` (inside ``function``, if given) from the
    program's source, and name its cause. ``unbound_local``: it was an UnboundLocalError. ``traceback_text``:
    the run's (or a pasted) traceback, when known; ``runtime_names``: the names the program had bound when
    it failed (name -> type); ``describe_line``: how a line is named in the messages ("line 5" by default;
    notebooks say "cell 3, line 2")."""
    analysis = NameAnalysis(name=name, line=line, function=function, unbound_local=unbound_local)
    where = describe_line or (lambda number: f"line {number}")
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        hint = suggest_import(name)
        analysis.cause = NameCause.NOT_IMPORTED if hint else NameCause.NEVER_ASSIGNED
        analysis.summary = analysis.diagnosis = f"`{name}` is not defined at {where(line) if line else 'its line'}."
        if hint:
            analysis.fix = f"It is usually imported with `{hint.statement}`."
            analysis.summary += " " + analysis.fix
            analysis.suggestions = [hint.statement]
        return analysis
    collector = BindingCollector(name, source)
    collector.visit(tree)
    analysis.bindings = sorted(collector.bindings, key=lambda b: b.line)
    # A function with its own `base_model` that returns `model` does not give back what was asked for.
    local_to = {b.scope for b in analysis.bindings if b.scope != "module"}
    returned = collector.returned_names
    analysis.discarded_calls = [
        c for c in collector.bare_calls
        if c.function in collector.returning_functions
        and not (c.function in local_to and returned[c.function] and name not in returned[c.function])
    ]  # fmt: skip
    # Only a function that makes the missing name itself (its local `model`) returns what was asked for.
    making = {b.scope for b in analysis.bindings if b.scope != "module"} & collector.returning_functions
    # ... and gives it back: `return model` (or something not a plain name), not `return other_model`.
    making = {fn for fn in making if name in collector.returned_names[fn] or not collector.returned_names[fn]}
    analysis.kept_as = [
        c for c in collector.kept_calls if c.function in making and c.target != name and (line is None or c.line < line)
    ]
    bound = collector.all_names | set(runtime_names or {})
    similar = find_similar(tree, name, bound, line, dir(builtins))
    analysis.similar = [item.text for item in similar if item.kind in ("case", "spelling")][:3]
    facts = Facts(analysis, tree, source, collector, similar, suggest_import(name, tree), traceback_text, where)
    cause, parts, suggestions = _explain(facts)
    analysis.cause = str(cause)
    analysis.suggestions = suggestions
    analysis.summary = " ".join((head + tail).strip() for head, tail in parts)
    ends = (".", "?")
    analysis.diagnosis = " ".join(
        head + ("." if tail and not head.endswith(ends) else "") for head, tail in parts if head
    )
    tails = [tail.lstrip(";:. ") for _, tail in parts if tail]
    analysis.fix = " ".join(tail[:1].upper() + tail[1:] for tail in tails)
    return analysis


def _explain(f: Facts) -> tuple[NameCause, Sentences, list[str]]:
    a = f.analysis
    name, line = a.name, a.line
    real = [b for b in a.bindings if b.kind not in ("global", "del")]
    module_level = [b for b in real if b.scope == "module"]
    in_functions = [b for b in real if b.scope != "module"]
    if _is_lambda_global(f):
        return explain_lambda_global(f)
    comparison = next((c for c in f.collector.comparisons if line is None or c.line <= line), None)
    if comparison is not None and not [b for b in module_level if line is None or b.line < line]:
        return NameCause.COMPARED_NOT_ASSIGNED, [(
            f"{f.cap(comparison.line)} writes `{comparison.text}`: `==` compares `{name}` with a value, it does not "
            f"assign it, and Python must read `{name}` to compare — before anything ever created it",
            f". Write `{name} =` with one `=`: `{comparison.text.replace('==', '=', 1)}`.",
        )], [comparison.text.replace("==", "=", 1)]  # fmt: skip
    if a.unbound_local:
        explained = explain_unbound_local(f, module_level, in_functions)
        if explained is not None:
            return explained
    deleted = explain_deleted(f, module_level)
    if deleted is not None:
        return deleted
    if module_level:
        return explain_module_level(f, module_level)
    if in_functions:
        return explain_only_in_functions(f, in_functions)
    return explain_bound_nowhere(f)


def _is_lambda_global(f: Facts) -> bool:
    """The NameError came from inside ``load_model``: a Lambda layer's function ran with this script's
    globals, which lack a name the training script had."""
    line = f.analysis.line
    lines = f.source.splitlines()
    text = lines[line - 1] if line and 0 < line <= len(lines) else ""
    if LOADING_CALL.search(text) and not re.search(rf"\b{re.escape(f.analysis.name)}\b", text):
        return True
    return bool(f.traceback_text and LOADING_CALL.search(f.traceback_text) and LAMBDA_FRAMES.search(f.traceback_text))
