"""The code editor: streamlit-ace, with Ctrl/Cmd+Enter made a "run" key.

streamlit-ace either sends text only on Ctrl+Enter/Apply (edits not yet sent are lost if the learner
clicks a Streamlit button), or, with ``auto_update``, sends ~200 ms after typing stops and turns
Ctrl+Enter into a newline. We want both: every edit sent, and Ctrl+Enter to run. So we serve a copy of
streamlit-ace's own built frontend with one keybinding changed: Ctrl/Cmd+Enter sends the text at once
with a run marker appended (a NUL byte, which cannot be typed into the editor, plus a timestamp). The
copy is made once per streamlit-ace version; if the expected code is not found (another version), the
unpatched editor is used and Ctrl+Enter simply does nothing special.
"""

from __future__ import annotations

import re
import shutil
from importlib.metadata import version
from pathlib import Path

import streamlit as st
import streamlit_ace
from streamlit.components.v1 import declare_component

from tutor import settings

RUN_MARKER = "\u0000RUN"
PATCH_VERSION = 3
_KEYBINDING = re.compile(
    r"exec:function\((\w)\)\{(\w)\.autoUpdate\?\(\1\.selection\.clearSelection\(\),\1\.navigateLineEnd\(\),"
    r'\1\.insert\("\\n"\)\):(\w)&&(\w)\(\1\.getValue\(\)\)\}'
)
_STYLE = (
    "<style>.tutor-error-line{position:absolute;background:rgba(220,38,38,.16);border-left:3px solid #dc2626}"
    # With some Linux monospace fonts the underscore falls below Ace's line box and is not drawn.
    ".ace_editor{line-height:1.5!important}</style>"
)


def patched_frontend() -> tuple[Path, bool]:
    """The folder to serve the editor from, and whether Ctrl+Enter-to-run is in place."""
    original = Path(streamlit_ace.__file__).parent / "frontend" / "build"
    target = settings.var_dir() / "components" / f"tutor-ace-{version('streamlit-ace')}-{PATCH_VERSION}"
    if (target / "index.html").is_file():
        return target, (target / "PATCHED").is_file()
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(original, staging)
    patched = False
    for chunk in (staging / "static" / "js").glob("main.*.chunk.js"):
        code = chunk.read_text(encoding="utf-8")
        code, count = _KEYBINDING.subn(r'exec:function(\1){\4(\1.getValue()+"\\u0000RUN"+Date.now())}', code)
        patched = patched or count > 0
        chunk.write_text(code, encoding="utf-8")
    index = staging / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace("</head>", _STYLE + "</head>"), encoding="utf-8")
    if patched:
        (staging / "PATCHED").write_text("Ctrl/Cmd+Enter sends the text with a run marker\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target, patched


@st.cache_resource
def _component():
    path, patched = patched_frontend()
    return declare_component("tutor_ace", path=str(path)), patched


def ctrl_enter_runs() -> bool:
    return _component()[1]


def split_run_marker(raw: str | None) -> tuple[str | None, str | None]:
    """(text, run token) from what the editor sent; the token is new for each Ctrl+Enter."""
    if raw is None:
        return None, None
    text, marker, token = raw.partition(RUN_MARKER)
    return text, (token or None) if marker else None


def code_editor(
    value: str,
    key: str,
    annotations: list[dict] | None = None,
    markers: list[dict] | None = None,
    mode: str = "python",
    min_lines: int = 20,
) -> tuple[str, str | None]:
    """Show the editor; return (current text, run token or None). ``mode``: Ace's language (python, toml)."""
    render, _ = _component()
    raw = render(
        defaultValue=value, placeholder="", height=None, minLines=min_lines, maxLines=None, fontSize=14, tabSize=4,
        mode=mode, theme="chrome", showGutter=True, showPrintMargin=False, wrapEnabled=False,
        readOnly=False, keyboardHandler="vscode", annotations=annotations or [], markers=markers or [],
        autoUpdate=True, key=key, default=value,
    )  # fmt: skip
    text, token = split_run_marker(raw)
    return (value if text is None else text), token
