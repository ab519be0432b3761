"""Every place a page shows text, listed (issue 13): no learner-controlled text reaches Markdown or HTML.

Streamlit renders the first argument of these calls as Markdown (links, images, icons, math). Each call
in app.py, app_pages/ and ui/ must pass either a constant, or an f-string or expression made only of
the values listed in TRUSTED (ours or the teacher's lesson files: numbers, lesson titles, settings).
Learner text (names, outcomes, error names and messages, output, code) goes through ui.plain (escaped
HTML) or st.text / st.code / dataframes. A new call that interpolates something else fails here: either
it is ours (add it to TRUSTED, with the reason) or it must go through ui.plain.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([ROOT / "app.py", *(ROOT / "app_pages").glob("*.py"), *(ROOT / "ui").glob("*.py")])
MARKDOWN_SINKS = {
    "markdown", "caption", "write", "info", "success", "warning", "error", "toast", "title", "header",
    "subheader", "expander", "button", "page_link", "metric", "checkbox", "download_button", "text_input",
    "selectbox", "form_submit_button", "radio", "popover", "status", "spinner", "tabs", "link_button",
}  # fmt: skip
# Expressions (as ast.unparse writes them) that are never learner-controlled, with why.
TRUSTED = {
    # lesson files, written by teachers
    "lesson.title", "lesson.summary", "lesson.explanation", "lesson.why", "hint", "number",
    "case", "heading",
    # words and numbers the app computes ("label": a phase name; "problem": a sign-in hint of ours)
    # (BADGES is keyed by tutor.store.progress.ProgressStatus; its values are our words)
    "label", "position", "runs", "BADGES[status]", "run_facts(verdict)",
    # (the setup page's pool figures, stats.* and pool.prefault_mb, are now in runs.where_runs_happen())
    "counts['running']", "counts['queued']", "counts['max_running']",
    "limits.wall_s:g", "limits.memory_mb / 1024:g", "limits.processes", "limits.output_kb", "limits.file_size_mb",
    "problem",
    # the run service's sentence about where runs happen (counts and settings: tutor.runs.*.where_runs_happen)
    "runs.where_runs_happen()",
    "level[len('error: '):]", "progress.note",
    # queue mode: counts of workers and attempts (numbers the app computes)
    "len(alive)", "len(workers)", "job.attempts",
    # server-side errors (the sandbox level could not be resolved)
    "str(exc)",
    # issue 11: the keyboard shortcut, counts, seconds, a lesson's title and URL path (lesson files), the
    # overview's "Start here"/"Continue with"
    "len(lesson.hints)", "left", "'try' if left == 1 else 'tries'", "later[0].title", "page",
    "where", "start.title", "elapsed:.1f", "limit", "len(missing)", "wait",
    # the teacher page: how many self-paced browsers ran nothing (a count, in our words)
    "count_idle_browsers(grid.idle_browsers)",
    # the studio's checkbox label, a constant of ours (tutor.authoring.studio names it in its own message)
    "REPLACE_LABEL",
    # a notebook lesson's markdown cell, drawn only when it is one of the lesson's own (starter/solution file)
    "markdown_text(teacher_cell)",
    # issue 21: the lesson list's numbers and a lesson's kind and cause (our words; module names of a lesson
    # file); the studio's module controls: module names, only those matching name.py (tutor.lessons.project.
    # MODULE_NAME: letters, digits, _), never a header's raw text
    "numbers[start.id]", "numbers[lesson.id]", "lesson_facts(lesson)", "picked or 'the module'", "undo",
    "f':material/delete: Delete {picked}' if picked else 'Delete module'",
    # issue 22: the studio's tabs, one per file (constants of ours)
    "TAB_LABELS",
}  # fmt: skip


def shown_values(call: ast.Call) -> list[ast.expr]:
    """The arguments Streamlit renders as Markdown: the first positional one, or body=/label=."""
    values = [] if call.func.attr == "page_link" else list(call.args[:1])  # page_link's first: a page
    values += [kw.value for kw in call.keywords if kw.arg in ("body", "label")]
    return values


SEEN: set[str] = set()


def untrusted_parts(value: ast.expr) -> list[str]:
    if isinstance(value, ast.Constant):
        return []
    if isinstance(value, ast.JoinedStr):
        parts = []
        for piece in value.values:
            if isinstance(piece, ast.FormattedValue):
                spec = ""
                if piece.format_spec is not None:
                    spec = ":" + "".join(
                        p.value for p in piece.format_spec.values if isinstance(p, ast.Constant)
                    )  # fmt: skip
                expr = ast.unparse(piece.value) + spec
                SEEN.update((expr, ast.unparse(piece.value)))
                if expr not in TRUSTED and ast.unparse(piece.value) not in TRUSTED:
                    parts.append(expr)
        return parts
    if isinstance(value, ast.BinOp):
        return untrusted_parts(value.left) + untrusted_parts(value.right)
    expr = ast.unparse(value)
    SEEN.add(expr)
    return [] if expr in TRUSTED else [expr]


def markdown_calls() -> list[tuple[str, int, str, list[str]]]:
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MARKDOWN_SINKS:
                for value in shown_values(node):
                    found.append((path.relative_to(ROOT).as_posix(), node.lineno, node.func.attr,
                                  untrusted_parts(value)))  # fmt: skip
    return found


def test_the_places_that_render_markdown_are_found() -> None:
    calls = markdown_calls()
    assert len(calls) > 40  # the scan sees the pages (a broken scan would pass everything)
    assert any(path == "app_pages/teacher.py" for path, *_ in calls)


def test_no_markdown_call_interpolates_anything_but_trusted_values() -> None:
    offenders = [f"{path}:{line} st.{kind}: {parts}" for path, line, kind, parts in markdown_calls() if parts]
    assert offenders == [], "learner text must go through ui.plain:\n" + "\n".join(offenders)


def test_html_is_written_only_by_ui_plain() -> None:
    for path in SOURCES:
        source = path.read_text()
        assert "unsafe_allow_html" not in source, path
        if path.name != "plain.py":
            tree = ast.parse(source)
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
            assert not [n for n in calls if n.func.attr == "html"], f"{path}: use ui.plain, not st.html"


def test_every_trusted_value_is_still_used() -> None:
    markdown_calls()
    assert not TRUSTED - SEEN, "remove trusted values no page interpolates any more"


def test_a_style_sheet_with_a_less_than_sign_is_refused() -> None:
    """Streamlit's sanitiser drops a style element whose text has "<" (every rule of it, silently): refused
    here, and none of the app's sheets (the *_CSS constants of the pages, read without running them) has one."""
    from ui import plain

    with pytest.raises(ValueError, match="sanitiser"):
        plain.style("/* the <pre> box */ p { color: red; }")
    sheets = {}
    for path in [*sorted((ROOT / "app_pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.endswith("_CSS"):
                        sheets[f"{path.name}:{target.id}"] = node.value.value
    assert len(sheets) >= 5, sheets.keys()
    assert [name for name, sheet in sheets.items() if "<" in sheet] == []
