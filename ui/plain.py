"""Learner-controlled text on the page: the one way in.

Display names, run outcomes, error names and messages, output and code all come from learners (a
sandbox's report is shaped by the learner's own process). Streamlit's Markdown turns such text into
links (``[x](url)``, and bare ``https://`` or ``www.`` even when backslash-escaped), images, icons
(``:material/home:``), emoji, ``$`` math and coloured text. So no page interpolates learner text into
Markdown: text that mixes our words with theirs is built here as HTML in which every piece of theirs is
escaped, and shown with ``st.html`` (no Markdown pass, no scripts). Plain text alone goes to ``st.text``,
``st.code`` or a dataframe cell, which never interpret it.

``tests/test_plain_text.py`` lists every place a page shows text and fails on a new one that
interpolates anything not known to be ours.
"""

from __future__ import annotations

import html

import streamlit as st

TONES = {  # background, text: contrast >= 7:1 (WCAG AAA) on each
    "success": ("#f0fdf4", "#14532d"),
    "error": ("#fef2f2", "#7f1d1d"),
    "warning": ("#fffbeb", "#713f12"),
    "info": ("#eff6ff", "#1e3a8a"),
}
MUTED = "#4b5563"  # 7.5:1 on white


class Html(str):
    """A fragment built here: its learner pieces are escaped already."""


def text(value: object) -> Html:
    """Any value, shown as exactly its characters."""
    return Html(html.escape(str(value), quote=True))


def strong(value: object) -> Html:
    return Html(f"<strong>{text(value)}</strong>")


def code(value: object) -> Html:
    return Html(f"<code>{text(value)}</code>")


def join(*parts: object) -> Html:
    """Concatenate: Html pieces as they are, anything else escaped."""
    return Html("".join(part if isinstance(part, Html) else text(part) for part in parts))


def message(value: str) -> Html:
    """A message of ours that quotes code between backticks (check messages: "`fit` on line 7 ...").
    The quoted parts become <code>; nothing in it is interpreted. An odd backtick is shown as one."""
    parts = value.split("`")
    if len(parts) % 2 == 0:
        return text(value)
    return Html("".join(code(part) if i % 2 else text(part) for i, part in enumerate(parts)))


def mark(passed: bool) -> Html:
    """A check's mark: a coloured sign with words for screen readers."""
    sign, colour, words = ("✓", "#15803d", "passed") if passed else ("✗", "#b91c1c", "failed")
    return Html(f'<span role="img" aria-label="{words}" style="color:{colour};font-weight:700">{sign}</span>')


def show(*parts: object, tone: str | None = None, muted: bool = False, where=None) -> None:
    """One block of text. ``tone`` draws it as a success/error/warning/info box; ``where`` is a container
    or column (default: the page)."""
    body = join(*parts)
    if tone is not None:
        background, colour = TONES[tone]
        style = f"background:{background};color:{colour};padding:0.75rem 1rem;border-radius:0.5rem;margin:0"
        # Announced when they appear: an error at once (alert), a verdict's success or note politely (status).
        role = {"error": ' role="alert"', "success": ' role="status"', "info": ' role="status"'}.get(tone, "")
        block = f'<div class="tutor-{tone}"{role} style="{style}">{body}</div>'
    else:
        style = f"margin:0;color:{MUTED};font-size:0.875rem" if muted else "margin:0"
        block = f'<p style="{style}">{body}</p>'
    (where or st).html(block)


def skip_link(selector: str, label: str) -> Html:
    """A link that moves the keyboard focus to the element ``selector`` (ours) on this page: the editor's
    page script (ui/editor.py) handles it; the next Tab goes on from there."""
    return Html(f'<a href="#" data-tutor-skip="{text(selector)}">{text(label)}</a>')


def show_list(items: list[Html], where=None) -> None:
    """A bulleted list of fragments built with this module."""
    body = "".join(f"<li>{item if isinstance(item, Html) else text(item)}</li>" for item in items)
    (where or st).html(f'<ul style="margin:0 0 0.5rem 0">{body}</ul>')


def show_block(fragment: Html, where=None) -> None:
    """A fragment built with this module, as a block of its own (a <div>, where ``show``'s paragraph could
    not hold it: a code listing's <pre>). Only an Html fragment: its learner pieces are escaped already."""
    if not isinstance(fragment, Html):
        raise TypeError("show_block takes an Html fragment built with ui.plain")
    (where or st).html(f'<div style="margin:0">{fragment}</div>')


def style(css: str) -> None:
    """The app's own style sheet: a constant of ours (ui/widgets.SHARED_CSS), never anything learner-made.
    Never a "<" in it: Streamlit's sanitiser drops a style element whose text has one, the whole sheet,
    silently (a comment that named a tag once took every rule of the app's sheet with it)."""
    if "<" in css:
        raise ValueError("a style sheet with '<' in it would be dropped whole by Streamlit's sanitiser")
    st.html(f"<style>{css}</style>")


def focus(selector: str, label: str) -> None:
    """Move keyboard focus to the element ``selector`` (ours) on the page and name it for screen readers.
    Runs in an empty frame of the page's own origin (st.html runs no scripts), out of the Tab order; a
    fresh comment each call makes the frame run again. Only our constants go in (selector, label)."""
    import json
    import time

    script = (
        "<script>(function(){var el=window.parent.document.querySelector(SELECTOR);if(!el)return;"
        "el.setAttribute('tabindex','-1');el.setAttribute('role','region');el.setAttribute('aria-label',LABEL);"
        "el.focus();})();/* NONCE */</script>"
    )
    script = script.replace("SELECTOR", json.dumps(selector)).replace("LABEL", json.dumps(label))
    script = script.replace("NONCE", str(time.time()))
    st.iframe(script, height="content", tab_index=-1)


def image_grid(items: list[tuple[bytes, str, str]], size: int = 84, where=None) -> None:
    """Small PNG images in a grid that reads left to right, row by row, and wraps to the screen's width:
    (png, caption, alt text) each, captions and alt texts ours (numbers and words), escaped anyway."""
    import base64

    cells = "".join(
        f'<figure role="listitem" style="margin:0;text-align:center">'
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{text(alt)}" width="{size}" '
        f'height="{size}" style="image-rendering:pixelated"><figcaption style="font-size:0.85rem">{text(caption)}'
        "</figcaption></figure>"
        for png, caption, alt in items
    )
    grid = f"display:grid;grid-template-columns:repeat(auto-fill,minmax({size}px,1fr));gap:0.5rem"
    (where or st).html(f'<div role="list" aria-label="Test digits" style="{grid}">{cells}</div>')
