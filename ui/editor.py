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

import hashlib
import re
import shutil
from importlib.metadata import version
from pathlib import Path

import streamlit as st
import streamlit_ace
from streamlit.components.v1 import declare_component

from tutor import settings
from ui import plain

RUN_MARKER = "\u0000RUN"
RUNNING_WORDS = "Running your code…"  # the page's answer to Run: at once in the browser, then from the server
PENDING_ID = "tutor-pending"  # the browser's own copy, shown before the server has heard of the click
RUN_SHORTCUT = "Ctrl+Enter (⌘+Enter on a Mac)"
PATCH_VERSION = 8
MAX_LINES = 40  # the editor grows to this many lines, then scrolls inside: the page stays short
HELP_ID = "tutor-editor-help"  # the keyboard help drawn before the editor; the editor's frame points at it
BACK_KEY = "E"  # outside the editor (on the verdict, after a run), this key brings the focus back to it
_KEYBINDING = re.compile(
    r"exec:function\((\w)\)\{(\w)\.autoUpdate\?\(\1\.selection\.clearSelection\(\),\1\.navigateLineEnd\(\),"
    r'\1\.insert\("\\n"\)\):(\w)&&(\w)\(\1\.getValue\(\)\)\}'
)
_STYLE = (
    "<style>.tutor-error-line{position:absolute;background:rgba(220,38,38,.16);border-left:3px solid #dc2626}"
    # With some Linux monospace fonts the underscore falls below Ace's line box and is not drawn.
    ".ace_editor{line-height:1.5!important}"
    "#tutor-note{display:none;font:14px sans-serif;background:#fffbeb;color:#713f12;padding:4px 8px}</style>"
)
# Runs in the editor's frame (same origin as the page, as Streamlit serves components):
# - Run (and a project's file picker) flushes the text: on the button's pointer/key down (before its click),
#   the editor sends its newest text at once, so the click's rerun has it (no fixed wait for the ~200 ms
#   typing debounce).
#   With several editors on a page (a notebook's cells), the one last loaded, focused or typed in is flushed:
#   its own listeners on the page replace the previous editor's, so an editor taken off the page (Reset,
#   another module or cell) never leaves a dead hook behind (a hook owned by the page's first editor did,
#   and a Run clicked just after typing ran the older text).
# - Shift+Enter runs too where the page asks for it (``shift_enter_runs``: a notebook's cells, as in Jupyter):
#   the same run marker as Ctrl+Enter; elsewhere Shift+Enter stays a new line.
# - Escape then Tab (Shift+Tab) leaves the editor to the next (previous) stop on the page: Ace keeps Tab
#   for indenting otherwise.
# - The keyboard help drawn before the editor (HELP_ID) describes its frame (aria-describedby) and, as a hidden
#   copy in the frame, its text box: a screen reader says how to leave before the learner is in.
# - E (BACK_KEY), pressed outside any text field (on the verdict a run focused), focuses the editor again.
# - Skip links (ui.plain.skip_link) move the focus to their target (once per page: a listener of its own).
# - Code over the size limit (settings.MAX_CODE_BYTES, in UTF-8 bytes as the page counts them) is not pasted or
#   dropped in, and Ctrl+Enter does not send it: a message says why at once (the tab stays responsive), where
#   Ctrl+Enter once did nothing at all.
# - A script lesson's Run (its button, Ctrl+Enter) shows RUNNING_WORDS at once, in the page, before the click has
#   reached the server: a round trip took 0.11-0.13 s on a busy 2-core machine (bench/bench_browser.py). It
#   sits outside Streamlit's own elements (the end of the page's body, fixed like the server's copy) and
#   goes when the server's copy (ui.widgets.show_running) or anything else of the run's is drawn, or after
#   a few seconds.
_SCRIPT = """<script>(function(){
var MAX=__MAX__, escaped=false, parentDoc=window.parent.document, HELP='__HELP__', BACK='__BACK__';
function editor(){var el=document.querySelector('.ace_editor:not(.ace_autocomplete)');return el&&el.env&&el.env.editor;}
function note(text){var n=document.getElementById('tutor-note');if(!n){n=document.createElement('div');
 n.id='tutor-note';n.setAttribute('role','alert');document.body.insertBefore(n,document.body.firstChild);}
 n.textContent=text;n.style.display=text?'block':'none';}
function bytes(v){return new TextEncoder().encode(v).length;}
var refused=false;
function tooBig(v){var size=bytes(v);if(size<=MAX){if(refused){refused=false;note('');}return false;}
 refused=true;note('Not run: your code is '+Math.round(size/1000)+' KB; the limit is '+Math.round(MAX/1000)+' KB.');
 return true;}
function flush(){try{var ed=editor();if(!ed)return;var v=ed.getValue();if(tooBig(v))return;
 window.parent.postMessage({isStreamlitMessage:true,type:'streamlit:setComponentValue',value:v,dataType:'json'},'*');
 }catch(e){}}
var P=window.parent;
function pending(){try{var old=parentDoc.getElementById('__PENDING__');if(old)old.remove();
 var n=parentDoc.createElement('div');n.id='__PENDING__';n.setAttribute('role','status');n.textContent='__WORDS__';
 n.style.cssText='position:fixed;bottom:1.5rem;left:50%;transform:translateX(-50%);z-index:1000;'+
  'padding:0.75rem 1rem;border-radius:0.5rem;background:#e5f0fb;color:#004280;'+
  'box-shadow:0 2px 8px rgba(0,0,0,0.2);font-family:inherit;';
 parentDoc.body.appendChild(n);var started=Date.now();
 var watch=new P.MutationObserver(function(){if(parentDoc.querySelector('.st-key-run-status')||
  Date.now()-started>5000){n.remove();watch.disconnect();}});
 watch.observe(parentDoc.body,{subtree:true,childList:true});setTimeout(function(){n.remove();watch.disconnect();},5000);
 }catch(x){}}
function typing(el){while(el&&el.shadowRoot&&el.shadowRoot.activeElement)el=el.shadowRoot.activeElement;
 return !!el&&(el.tagName==='INPUT'||el.tagName==='TEXTAREA'||el.tagName==='SELECT'||el.tagName==='IFRAME'||
  el.isContentEditable||(el.closest&&el.closest('[role=textbox],[role=combobox],[role=listbox]')));}
function back(e){if(e.key.toUpperCase()!==BACK||e.ctrlKey||e.metaKey||e.altKey||typing(parentDoc.activeElement))return;
 var ed=editor();if(!ed)return;e.preventDefault();window.frameElement.focus();ed.focus();}
function describe(){try{var frame=window.frameElement,help=parentDoc.getElementById(HELP);
 if(!frame)return;frame.setAttribute('aria-label','Code editor');if(!help)return;
 frame.setAttribute('aria-describedby',HELP);var copy=document.getElementById(HELP);
 if(!copy){copy=document.createElement('div');copy.id=HELP;copy.hidden=true;document.body.appendChild(copy);}
 copy.textContent=help.textContent;var area=document.querySelector('.ace_text-input');
 if(area)area.setAttribute('aria-describedby',HELP);}catch(x){}}
describe();setTimeout(describe,500);
function isRun(e){return e.target&&e.target.closest&&
 e.target.closest('[class*="st-key-run-"] button,[class*="st-key-module-"] button,[class*="st-key-module-"] label');}
function isRunButton(e){return e.target&&e.target.closest&&e.target.closest('[class*="st-key-run-"] button');}
function runs(){var ed=editor();if(ed&&!shiftRuns&&!tooBig(ed.getValue()))pending();}  // (not a notebook's cell)
function mine(){try{if(P.__tutorRunHooks){parentDoc.removeEventListener('pointerdown',P.__tutorRunHooks[0],true);
 parentDoc.removeEventListener('keydown',P.__tutorRunHooks[1],true);}
 P.__tutorRunHooks=[function(e){if(isRun(e))flush();if(isRunButton(e))runs();},
  function(e){if((e.key==='Enter'||e.key===' ')&&isRun(e)){flush();if(isRunButton(e))runs();}back(e);}];
 parentDoc.addEventListener('pointerdown',P.__tutorRunHooks[0],true);
 parentDoc.addEventListener('keydown',P.__tutorRunHooks[1],true);}catch(x){}}
if(!P.__tutorSkip){P.__tutorSkip=true;parentDoc.addEventListener('click',function(e){
 var a=e.target&&e.target.closest&&e.target.closest('a[data-tutor-skip]');if(!a)return;e.preventDefault();
 var to=parentDoc.querySelector(a.getAttribute('data-tutor-skip'));if(!to)return;
 if(!to.matches('button,a,input,textarea,select,iframe'))to.setAttribute('tabindex','-1');to.focus();},true);}
mine();
document.addEventListener('focusin',mine,true);
var shiftRuns=false;
window.addEventListener('message',function(e){var d=e.data;
 if(d&&d.type==='streamlit:render'&&d.args){shiftRuns=!!d.args.shiftEnterRuns;setTimeout(describe,0);}});
function run(){var ed=editor();if(!ed)return;var v=ed.getValue();if(tooBig(v))return;
 window.parent.postMessage({isStreamlitMessage:true,type:'streamlit:setComponentValue',
  value:v+'\\u0000RUN'+Date.now(),dataType:'json'},'*');}
function leave(back){var frame=window.frameElement;if(!frame)return;
 var focusable='a[href],button:not([disabled]),input,select,textarea,iframe,[tabindex]:not([tabindex="-1"])';
 var stops=Array.prototype.filter.call(parentDoc.querySelectorAll(focusable),
  function(el){return el===frame||el.offsetParent!==null;});
 var i=stops.indexOf(frame);var next=stops[back?i-1:i+1];if(next){if(editor())editor().blur();next.focus();}}
document.addEventListener('keydown',function(e){
 mine();
 if(e.key==='Enter'&&e.shiftKey&&shiftRuns&&!e.ctrlKey&&!e.metaKey&&!e.altKey){
  e.preventDefault();e.stopPropagation();escaped=false;run();return;}
 if(e.key==='Enter'&&(e.ctrlKey||e.metaKey)&&!e.altKey){runs();}  // the patched keybinding sends the run
 if(e.key==='Escape'){escaped=true;return;}
 if(e.key==='Tab'&&escaped){e.preventDefault();e.stopPropagation();escaped=false;leave(e.shiftKey);return;}
 escaped=false;},true);
function guard(e,text){var ed=editor();var size=bytes(ed?ed.getValue():'')+bytes(text);
 if(size>MAX){e.preventDefault();e.stopPropagation();
  note('Not pasted: that would make '+Math.round(size/1000)+' KB of code; the limit is '+Math.round(MAX/1000)+' KB.');}
 else note('');}
document.addEventListener('paste',function(e){guard(e,(e.clipboardData||window.clipboardData).getData('text')||'');},true);
document.addEventListener('drop',function(e){guard(e,e.dataTransfer?e.dataTransfer.getData('text')||'':'');},true);
})();</script>"""


def patched_frontend() -> tuple[Path, bool]:
    """The folder to serve the editor from, and whether Ctrl+Enter-to-run is in place."""
    original = Path(streamlit_ace.__file__).parent / "frontend" / "build"
    # The copy is named by what goes into it: a change to the script or the style makes a new one (a copy
    # named by PATCH_VERSION alone was served stale when the script changed and the number did not).
    made_of = hashlib.sha256(f"{PATCH_VERSION}\n{_KEYBINDING.pattern}\n{_STYLE}\n{_SCRIPT}".encode()).hexdigest()[:12]
    target = settings.var_dir() / "components" / f"tutor-ace-{version('streamlit-ace')}-{made_of}"
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
    script = _SCRIPT.replace("__MAX__", str(settings.MAX_CODE_BYTES)).replace("__HELP__", HELP_ID)
    script = script.replace("__BACK__", BACK_KEY).replace("__PENDING__", PENDING_ID).replace("__WORDS__", RUNNING_WORDS)
    index.write_text(
        index.read_text(encoding="utf-8").replace("</head>", _STYLE + "</head>").replace("</body>", script + "</body>"),
        encoding="utf-8",
    )
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


def keyboard_help(what: str) -> None:
    """The editor's keyboard help, drawn before it (its frame is described by it: read out on entering).
    ``what``: the sentence about running (ours)."""
    plain.show(plain.Html(f'<span id="{HELP_ID}">'), plain.text(
        f"Keyboard: Tab indents in the editor; Esc then Tab leaves it. {what} After a run, press {BACK_KEY} to "
        "come back to the editor."), plain.Html("</span>"), muted=True)  # fmt: skip


def code_editor(
    value: str,
    key: str,
    annotations: list[dict] | None = None,
    markers: list[dict] | None = None,
    mode: str = "python",
    min_lines: int = 20,
    max_lines: int = MAX_LINES,
    shift_enter_runs: bool = False,
) -> tuple[str, str | None]:
    """Show the editor; return (current text, run token or None). ``mode``: Ace's language (python, toml).
    ``shift_enter_runs``: Shift+Enter runs as Ctrl+Enter does (a notebook cell's editor, as in Jupyter)."""
    render, _ = _component()
    raw = render(
        defaultValue=value, placeholder="", height=None, minLines=min_lines, maxLines=max_lines, fontSize=14,
        tabSize=4, mode=mode, theme="chrome", showGutter=True, showPrintMargin=False, wrapEnabled=False,
        readOnly=False, keyboardHandler="vscode", annotations=annotations or [], markers=markers or [],
        autoUpdate=True, shiftEnterRuns=shift_enter_runs, key=key, default=value,
    )  # fmt: skip
    text, token = split_run_marker(raw)
    return (value if text is None else text), token
