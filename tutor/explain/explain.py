"""Explain one file: a script or a notebook, with or without a pasted traceback, run here or not.

Where the error comes from, best evidence first: the sandbox (the program ran here and raised it); when the
run stopped earlier (a data file or a package missing here), the traceback the person pasted, then the
notebook's saved error outputs, then the source alone. The sandbox breaking is never told as the person's
error: it is ``grader_error``."""

from __future__ import annotations

import ast
import re
import threading

from tutor.explain.contract import Basis, ExplainedError, Explanation, SourceKind
from tutor.explain.fixes import fix_source
from tutor.explain.inputs import read_input
from tutor.explain.running import Site, Stop, describe_stop, run_source, site_from_run
from tutor.explain.traceback_text import PastedError, parse_traceback
from tutor.grading.name_error import LOADING_CALL, analyze_name_error, find_static_name_error
from tutor.lessons.causes import cause_label
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import RunResult, Termination


def explain_file(
    filename: str,
    data: bytes,
    traceback_text: str | None = None,
    *,
    run: bool = True,
    limits: Limits | None = None,
    cancel: threading.Event | None = None,
) -> Explanation:
    """Find the first NameError (or UnboundLocalError) of ``data`` and its cause. ``filename`` says the kind
    (.py or .ipynb) and is shown back as given, without any folder; ``run``: run it in the sandbox first.
    Raises InputError for input that cannot be explained (the message says why)."""
    kind, content = read_input(filename, data)
    name = plain_name(filename)
    if kind is SourceKind.NOTEBOOK and isinstance(content, dict):
        from tutor.explain.explain_notebook import explain_notebook  # (it builds on this module's steps)

        return explain_notebook(name, content, traceback_text, run=run, limits=limits, cancel=cancel)
    return explain_script(name, str(content), traceback_text, run=run, limits=limits, cancel=cancel)


def explain_script(
    filename: str,
    source: str,
    traceback_text: str | None,
    *,
    run: bool,
    limits: Limits | None,
    cancel: threading.Event | None,
) -> Explanation:
    explanation = Explanation(filename, SourceKind.SCRIPT, False, None, None, "")
    pasted = read_pasted(traceback_text, explanation.notes)
    stop: Stop | None = None
    if run:
        result = run_source(source, limits, cancel)
        if result.termination.is_infrastructure:
            return sandbox_broke(explanation, result)
        site = site_from_run(result)
        if site is not None:
            return explain_site(explanation, source, site, Basis.SANDBOX)
        stop = describe_stop(result, lambda line: (None, line))
        if stop is None:
            explanation.summary = "No NameError here: your program ran to the end."
            if pasted is not None:
                explanation.notes.append(
                    f"your traceback shows {pasted.type} for `{pasted.name}`, but here the program ran to the end "
                    "without it (it may depend on files or settings on your machine)"
                )
            return explanation
        if result.termination is Termination.CANCELLED:
            explanation.summary = "The run was stopped before it finished; nothing was explained."
            return explanation
        explanation.stopped = stop.to_dict()
    site, basis = None, None
    if pasted is not None:
        site, basis = site_from_pasted(source, pasted, explanation.notes), Basis.TRACEBACK
    if site is None and (static := find_static_name_error(source)) is not None:
        name, line = static
        site, basis = Site("NameError", name, f"name '{name}' is not defined", line, None), Basis.SOURCE
    if site is not None and basis is not None:
        return explain_site(explanation, source, site, basis, stop)
    explanation.summary = nothing_found(stop, stop_where(stop), "program")
    return explanation


def explain_site(
    explanation: Explanation, source: str, site: Site, basis: Basis, stop: Stop | None = None
) -> Explanation:
    """Fill ``explanation`` with the analysis of the NameError at ``site`` in a script."""
    analysis = analyze_name_error(
        source,
        site.name,
        site.line,
        site.function,
        site.type == "UnboundLocalError",
        traceback_text=site.traceback,
        runtime_names=site.runtime_names,
    )
    error = ExplainedError(
        type=site.type,
        name=site.name,
        line=site.line,
        message=site.message,
        cause=analysis.cause,
        diagnosis=analysis.diagnosis,
        fix=analysis.fix,
        function=site.function,
        suggestions=list(analysis.suggestions),
        handler_line=site.handler_line,
    )
    discarded = [(call.line, call.function) for call in analysis.discarded_calls]
    error.fixed_source = fix_source(source, site.name, analysis.cause, site.line, analysis.suggestions, discarded)
    explanation.found, explanation.basis, explanation.error = True, basis, error
    where = f"line {site.line}" if site.line else ""
    explanation.summary = compose_summary(error, basis, where, stop, stop_where(stop))
    if site.handler_line:
        explanation.summary += (
            f" Your `except` on line {site.handler_line} caught it, so the program went on without "
            f"`{site.name}`: a NameError hidden is not a NameError fixed."
        )
    return explanation


def plain_name(filename: str) -> str:
    """The file's own name, never a folder of the machine it came from."""
    return re.split(r"[\\/]", filename)[-1][:200] or "file"


def read_pasted(traceback_text: str | None, notes: list[str]) -> PastedError | None:
    if not traceback_text or not traceback_text.strip():
        return None
    pasted, pasted_notes = parse_traceback(traceback_text)
    notes.extend(pasted_notes)
    return pasted


def site_from_pasted(source: str, pasted: PastedError, notes: list[str]) -> Site:
    """The pasted NameError, its line checked against this file: the line must exist and use the name;
    else the first line that does (a traceback from another version of the file, or of another file)."""
    line, function = pasted.line, pasted.function
    lines = source.split("\n")
    frame_file = re.split(r"[\\/]", pasted.file or "")[-1]
    if line is not None and not 0 < line <= len(lines):
        notes.append(f"the pasted traceback's line {line} is not in this file (it has {len(lines)} lines)")
        line = None
    elif line is not None and not re.search(rf"\b{re.escape(pasted.name)}\b", lines[line - 1]):
        where = f" of {frame_file}" if frame_file else ""
        notes.append(f"line {line}{where} in the pasted traceback does not use `{pasted.name}` in this file")
        line = None
    if line is None:
        line, function = first_use(source, pasted.name), None
        if line is None:
            notes.append(f"`{pasted.name}` does not appear in this file")
            line = loading_line(lines, pasted)  # a Lambda layer's global: the load_model call is the place
    return Site(pasted.type, pasted.name, pasted.message, line, function, traceback=pasted.text)


def loading_line(lines: list[str], pasted: PastedError) -> int | None:
    """The line of this file, among the pasted frames, that loads a saved model (innermost first)."""
    for frame in reversed(pasted.frames):
        number = frame.lineno
        if number is not None and 0 < number <= len(lines) and LOADING_CALL.search(lines[number - 1]):
            return number
    return None


def first_use(source: str, name: str) -> int | None:
    """The first line that reads ``name``, or (source Python cannot read) that mentions it."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        for number, text in enumerate(source.split("\n"), start=1):
            if re.search(rf"\b{re.escape(name)}\b", text):
                return number
        return None
    lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name]
    return min(lines) if lines else None


def sandbox_broke(explanation: Explanation, result: RunResult) -> Explanation:
    explanation.grader_error = result.detail or f"the sandbox failed ({result.termination.value})"
    explanation.summary = (
        f"The sandbox here could not run your {explanation.kind}, so nothing was explained; this is not a problem "
        f"with your code. {explanation.grader_error}"
    )
    return explanation


def stop_where(stop: Stop | None) -> str:
    """ "on line 3", "in cell 2, line 3": where a run stopped, in words."""
    if stop is None or (stop.line is None and stop.cell is None):
        return ""
    if stop.cell is None:
        return f"on line {stop.line}"
    return f"in cell {stop.cell + 1}" + (f", line {stop.line}" if stop.line else "")


def compose_summary(
    error: ExplainedError, basis: Basis, where: str, stop: Stop | None, stopped_where: str, order: str = ""
) -> str:
    """One or two sentences: how it stopped here, if not with the NameError; then the NameError and its cause.
    ``where``: "line 12", "cell 4, line 2"; ``order``: for notebooks, " when the cells run ..."."""
    what = f"`{error.name}` is read before it is assigned" if error.type == "UnboundLocalError" else (
        f"`{error.name}` is not defined"
    )  # fmt: skip
    label = cause_label(error.cause)
    what += f" ({label})" if label else ""
    if basis == Basis.SANDBOX:
        subject = where[:1].upper() + where[1:] if where else "Your code"
        headline = f"{subject} raises {error.type}{order}: {what}."
    elif basis == Basis.TRACEBACK:
        headline = f"Your traceback shows {error.type}{' on ' + where if where else ''}: {what}."
    elif basis == Basis.NOTEBOOK_OUTPUT:
        headline = f"The saved output of {where or 'a cell'} shows {error.type}: {what}."
    else:
        headline = f"From the source, {where or 'your code'} would raise {error.type}{order}: {what}."
    return f"{stop.sentence(stopped_where)} {headline}" if stop is not None else headline


def nothing_found(stop: Stop | None, where: str, what: str) -> str:
    if stop is None:
        return f"No NameError found in the source of your {what} (it was not run here)."
    if stop.raised:
        return f"No NameError here; it stopped with {stop.words(where)}, and the source shows none."
    return f"No NameError here; it stopped before the end ({stop.message.rstrip('.')}), and the source shows none."
