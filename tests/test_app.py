"""The app's page flow with Streamlit's AppTest (the Ace editor is a custom component there, so the
learner's code is put into session state, as the editor would)."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent


def lesson_app(lesson_id: str = "assign-the-model") -> AppTest:
    def script(lesson_id: str) -> None:
        from app_pages.lesson import render_lesson

        render_lesson(lesson_id)

    at = AppTest.from_function(script, args=(lesson_id,), default_timeout=60)
    return at


def texts(at: AppTest) -> str:
    """Everything the page says, in order of kind: Markdown elements, and ui.plain's HTML as its text."""
    parts = [e.value for e in (*at.markdown, *at.error, *at.success, *at.info, *at.warning, *at.caption)]
    parts += [html.unescape(re.sub(r"<[^>]+>", "", e.value)) for e in at.html]
    return "\n".join(str(p) for p in parts).replace("\\", "")  # drop Markdown escapes


def block_keys(at: AppTest) -> list[str]:
    """The keys of the page's keyed containers (Streamlit gives them ids ending in ``-<key>``)."""
    keys: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(proto, "id", "").startswith("$$ID-"):
            keys.append(proto.id.split("-", 2)[2])
        children = getattr(node, "children", None)
        for child in children.values() if isinstance(children, dict) else ():
            walk(child)

    walk(at._tree)
    return keys


def run_until(at: AppTest, needle: str, timeout: float = 90) -> None:
    """Rerun the page (as its live panel does) until ``needle`` is on it."""

    def shown() -> bool:
        if needle in texts(at):
            return True
        at.run()
        return needle in texts(at)

    assert wait_for(shown, timeout, 0.5), f"{needle!r} never appeared; page shows:\n{texts(at)[-2000:]}"


def test_overview_lists_lessons_with_status() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "NameError: name 'model' is not defined"
    page = texts(at)
    assert "not started" in page
    assert "nothing keeps it" in page  # lesson 1's summary


def test_deep_link_opens_the_lesson() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["lesson"] = "assign-the-model"
    at.run()
    assert not at.exception
    assert at.title[0].value == "Keep what build_model() returns"


def test_a_deep_link_survives_a_draw_of_the_overview_before_the_browser_is_known() -> None:
    """The draw that signs a new browser in could come from the overview after the switch to the lesson
    (switch_page drops the query): the browser landed on the overview (CI, and the notebook browser test)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["lesson"] = "assign-the-model"
    at.run()
    assert at.title[0].value == "Keep what build_model() returns"
    at.query_params.clear()
    at.switch_page("app_pages/overview.py").run()  # the browser not yet known (no learner): back to the lesson
    assert not at.exception
    assert at.title[0].value == "Keep what build_model() returns"


def test_running_the_starter_shows_what_happened_but_not_the_fix() -> None:
    """Issue 11, teach before telling: the unchanged starter is no attempt; no fix, no solution."""
    at = lesson_app().run()
    assert not at.exception
    why_label = ":material/school: Why this happens"
    assert why_label not in [e.label for e in at.expander]  # the why comes with the first failing run, not before
    at.button(key="run-assign-the-model").click().run()
    run_until(at, "This is the starter code, as given.")
    from ui.state import get_lessons

    why = next(e for e in at.expander if e.label == why_label)
    assert why.proto.expanded and get_lessons().get("assign-the-model").why.strip() in why.markdown[0].value
    page = texts(at)
    assert "On line 24, Python looked for the name model and found nothing." in page
    assert "the result is not kept." in page  # the diagnosis...
    assert "build_model()" in page and "Where your code assigns model: line 12" in page
    assert "model = build_model()" not in page and "How to fix it" not in page  # ...not the fix
    assert not re.search(r"\d+ failed|\d+ passed|not reached", page)  # no check list for the starter
    state = at.session_state["lessons"]["assign-the-model"]
    assert (state.status, state.attempts) == ("not started", 0)
    assert not [c for c in at.code if c.language == "diff"]  # the solution stays closed
    # No polling panel beside a drawn verdict: a fragment rerun after the draw once dropped its What happened box
    assert "verdict" in block_keys(at) and "live-assign-the-model" not in block_keys(at)


def test_a_real_attempt_gets_one_headline_and_not_reached_checks() -> None:
    at = lesson_app().run()
    from ui.state import get_lessons

    starter = get_lessons().get("assign-the-model").starter
    at.session_state["lessons"]["assign-the-model"].code = starter + "# my first try\n"
    at.button(key="run-assign-the-model").click().run()
    run_until(at, "Not yet.")
    page = texts(at)
    headline = "Line 24: NameError: name 'model' is not defined."
    assert page.count(headline) == 1
    assert "1 failed (1 more on the same error), 0 passed · 4 not reached" in page
    assert "Failed on the same NameError (line 24)." in page
    assert "4 not reached" in [e.label for e in at.expander]
    assert repeated_sentences(page) == []  # no sentence twice
    assert "How to fix it" not in page  # one real try: the fix is still the last hint's
    state = at.session_state["lessons"]["assign-the-model"]
    assert (state.status, state.attempts) == ("attempted", 1)


def repeated_sentences(page: str) -> list[str]:
    sentences = [s.strip() for s in re.split(r"(?<=[.?!])\s|\n", page) if len(s.strip()) > 30]
    return sorted({s for s in sentences if sentences.count(s) > 1})


def test_a_syntax_error_or_a_flood_of_output_is_said_once() -> None:
    """Issue 11: the SyntaxError sentence was repeated 5 times, the output limit's 6 times."""
    for code, needle in (
        ("model = (\n", "SyntaxError"),
        ("while True:\n    print('x' * 1000)\n", "output"),
    ):
        at = lesson_app().run()
        at.session_state["lessons"]["assign-the-model"].code = code
        at.button(key="run-assign-the-model").click().run()
        run_until(at, "Not yet.")
        page = texts(at)
        assert needle in page and "not reached" in page
        assert repeated_sentences(page) == [], page


def test_learner_code_from_the_editor_is_what_runs() -> None:
    at = lesson_app().run()
    at.session_state["lessons"]["assign-the-model"].code = "print('mine')\nmodle = 1\nmodel.fit()\n"
    at.button(key="run-assign-the-model").click().run()
    run_until(at, "Not yet.")
    assert "Line 3: NameError" in texts(at)
    assert "Did you mean" in texts(at)


def sent_before_waits(monkeypatch, module) -> list[str]:
    """What the page sends, in order, with "WAIT <s>" where its draw starts to wait for the run
    (``module.current_job`` with a wait): an element's text once it is enqueued to go to the browser."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    events: list[str] = []
    enqueue, current_job = ScriptRunContext.enqueue, module.current_job

    def record(ctx, msg) -> None:
        element = msg.delta.new_element
        events.append(element.html.body if element.WhichOneof("type") == "html" else element.WhichOneof("type") or "")
        enqueue(ctx, msg)

    def waiting(state, wait_s: float = 0.0):
        if wait_s:
            events.append(f"WAIT {wait_s}")
        return current_job(state, wait_s)

    monkeypatch.setattr(ScriptRunContext, "enqueue", record)
    monkeypatch.setattr(module, "current_job", waiting)
    return events


def test_run_says_running_before_its_draw_waits_for_the_verdict(monkeypatch) -> None:
    """Issue 23: the draw after Run waits up to QUICK_WAIT_S for a quick verdict; the page said nothing for
    that long (2.3 s seen). "Running your code…" goes to the browser before the wait, then gives way."""
    import app_pages.lesson

    at = lesson_app().run()
    events = sent_before_waits(monkeypatch, app_pages.lesson)
    at.button(key="run-assign-the-model").click().run()
    waits = [i for i, event in enumerate(events) if event.startswith("WAIT")]
    assert waits, "the starter's run was not waited for (no quick verdict tried)"
    before = events[: waits[0]]
    status = [event for event in before if "Running your code…" in event]
    assert status and 'role="status"' in status[0], before
    run_until(at, "This is the starter code, as given.")
    assert "Running your code…" not in texts(at)  # the verdict replaced it
    assert "run-status" not in block_keys(at)


def test_empty_editor_and_oversized_code_are_refused_at_once() -> None:
    at = lesson_app().run()
    at.session_state["lessons"]["assign-the-model"].code = "  \n\n"
    at.button(key="run-assign-the-model").click().run()
    page = texts(at)
    assert "Your editor is empty" in page and "failed" not in page and "passed" not in page
    assert at.session_state["lessons"]["assign-the-model"].job is None  # nothing ran
    from tutor import settings

    too_long = "x = 1\n" * (settings.MAX_CODE_BYTES // 6 + 1)  # the app's one limit, one line over
    at.session_state["lessons"]["assign-the-model"].code = too_long
    at.button(key="run-assign-the-model").click().run()
    assert f"Not run: your code is {len(too_long) / 1000:.0f} KB; the limit is 200 KB." in texts(at)
    assert [w for w in at.warning if "Not run" in w.value] or "tutor-warning" in "".join(h.value for h in at.html)
    state = at.session_state["lessons"]["assign-the-model"]
    assert state.job is None  # nothing submitted
    assert state.code == too_long  # nothing the learner typed is lost: the editor keeps it
    assert "Running your code…" not in texts(at) and "live-assign-the-model" not in block_keys(at)


def test_solution_opens_after_the_hints_or_on_a_confirmed_request() -> None:
    at = lesson_app().run()
    assert "Hint 1" not in texts(at)
    assert not [c for c in at.code if c.language == "diff"]
    at.button(key="solution-assign-the-model").click().run()
    assert "Sure?" in texts(at) and not [c for c in at.code if c.language == "diff"]  # asks first
    at.button(key="solution-no-assign-the-model").click().run()
    assert "Sure?" not in texts(at)
    at.button(key="hint-assign-the-model").click().run()
    assert "Hint 1 of 3" in texts(at) and "Hint 2" not in texts(at)
    at.button(key="hint-assign-the-model").click().run()
    assert not [c for c in at.code if c.language == "diff"]
    at.button(key="hint-assign-the-model").click().run()
    assert "model = build_model()" in texts(at)  # the last hint has the fix...
    diffs = [c.value for c in at.code if c.language == "diff"]
    assert diffs and "+model = build_model()" in diffs[0]  # ...and the solution opens with it
    other = lesson_app().run()
    other.button(key="solution-assign-the-model").click().run()
    other.button(key="solution-yes-assign-the-model").click().run()
    assert [c for c in other.code if c.language == "diff"]


def test_reset_restores_the_starter() -> None:
    at = lesson_app().run()
    state = at.session_state["lessons"]["assign-the-model"]
    state.code = "something else\n"
    at.button(key="reset-assign-the-model").click().run()
    state = at.session_state["lessons"]["assign-the-model"]
    assert state.generation == 1
    assert state.code.startswith("import tensorflow as tf")


def test_streamlit_process_never_imports_tensorflow() -> None:
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=30).run()\n"
        "assert not at.exception, at.exception\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def test_the_server_imports_the_pages_while_it_starts_and_never_tensorflow(tmp_path) -> None:
    """serve.py (scripts/run.sh's command) preloads the first page's modules once the server is up: the
    preloading thread finishes, the server answers, and no TensorFlow library is mapped into it."""
    from tests.test_browser import serve_app
    from tests.waiting import wait_for

    env = {**os.environ, "TUTOR_DB_PATH": str(tmp_path / "serve.sqlite3")}
    with serve_app(env, tmp_path / "serve.log") as url:
        pid = int(subprocess.run(["pgrep", "-f", f"serve.py.*{url.rsplit(':', 1)[1]}"], capture_output=True,
                                 text=True).stdout.split()[0])  # fmt: skip

        def threads() -> list[str]:
            return [Path(f"/proc/{pid}/task/{t}/comm").read_text().strip() for t in os.listdir(f"/proc/{pid}/task")]

        assert wait_for(lambda: "tutor-preload" not in threads(), timeout_s=60), threads()
        maps = Path(f"/proc/{pid}/maps").read_text()
        # No page was viewed, yet the database layer's compiled parts are loaded: the preload ran.
        assert "sqlalchemy" in maps
        assert "tensorflow" not in maps
        assert urllib.request.urlopen(f"{url}/_stcore/health", timeout=5).read() == b"ok"
    assert "preloading" not in (tmp_path / "serve.log").read_text()  # no preload failed


def test_stop_cancels_a_running_program() -> None:
    at = lesson_app().run()
    at.session_state["lessons"]["assign-the-model"].code = "import time\nprint('working')\ntime.sleep(60)\n"
    at.button(key="run-assign-the-model").click().run()
    run_until(at, "Running your code", timeout=30)
    assert re.search(r"Running your code\*\* · \d+\.\d s of at most 120 s", texts(at))
    assert "live-assign-the-model" in block_keys(at)  # the polling panel, while the run is in flight
    assert "Nothing new for" not in texts(at)
    run_until(at, "Nothing new for", timeout=40)  # ten quiet seconds: it may be an endless loop, Stop is named
    assert "no output and no training progress. If your program is stuck in an endless loop, press Stop" in texts(at)
    stop = at.button(key="stop-assign-the-model")
    started = time.monotonic()
    stop.click().run()
    state = at.session_state["lessons"]["assign-the-model"]
    from ui.state import get_runs

    job = get_runs().get(state.job)
    assert job.done.wait(15)
    assert job.snapshot().state.value == "cancelled"
    assert time.monotonic() - started < 15
    at.run()
    assert not any(b.key == "stop-assign-the-model" for b in at.button)
    assert re.search(r"Stopped after \d+\.\d s\.", texts(at))
    at.run()
    assert "Stopped after" in texts(at)  # it stays until the next run


def test_basic_sandbox_level_is_announced_on_every_page(monkeypatch) -> None:
    from ui.widgets import sandbox_level_in_force

    monkeypatch.setenv("TUTOR_SANDBOX", "basic")
    sandbox_level_in_force.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
        assert texts(at).count("Runs are not isolated on this server") == 1
        lesson = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        lesson.query_params["lesson"] = "assign-the-model"
        lesson.run()
        assert texts(lesson).count("Runs are not isolated on this server") == 1
    finally:
        sandbox_level_in_force.clear()
    monkeypatch.delenv("TUTOR_SANDBOX")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    if sandbox_level_in_force() == "strict":
        assert "Runs are not isolated" not in texts(at)


def test_every_browser_is_its_own_learner_without_a_workshop_code(tmp_path, monkeypatch) -> None:
    """Issue 11: self-paced, each browser gets its own learner (token in the URL and in the browser's
    localStorage, here the component's answer); the browser that comes back is the same learner; the
    single local learner of an older version is kept by the first browser."""
    from tutor.store.db import IdentitySource, open_database
    from tutor.store.progress import save_code, sign_in_learner
    from ui.auth import BROWSER_KEY

    db_path = tmp_path / "tutor.sqlite3"
    monkeypatch.setenv("TUTOR_DB_PATH", str(db_path))
    db = open_database(f"sqlite:///{db_path}")
    old = sign_in_learner(db, IdentitySource.LOCAL, "You", "local")  # as an older version made it
    save_code(db, old.id, "assign-the-model", "# my code from yesterday\n")

    def browser(holds: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        at.session_state[BROWSER_KEY] = holds  # what the browser's localStorage answered
        at.run()
        assert not at.exception
        return at

    first, second = browser(""), browser("")
    ids = [at.session_state["learner"].id for at in (first, second)]
    assert ids[0] == old.id and ids[1] != old.id  # the first browser keeps the old progress
    assert first.query_params["learner"] == old.token
    assert second.query_params["learner"] == second.session_state["learner"].token
    again = browser(second.session_state["learner"].token)  # a new tab in the second browser
    assert again.session_state["learner"].id == ids[1]
    lesson = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    lesson.session_state[BROWSER_KEY] = ""
    lesson.query_params["lesson"] = "assign-the-model"
    lesson.query_params["learner"] = second.session_state["learner"].token
    lesson.run()
    code = lesson.session_state["lessons"]["assign-the-model"].code
    assert code.startswith("import tensorflow") and "yesterday" not in code  # not the other browser's code
    assert "Your latest code for this lesson is back" not in texts(lesson)


def test_after_a_few_real_attempts_the_fix_and_the_solution_open() -> None:
    from ui.state import get_lessons

    lesson = get_lessons().get("assign-the-model")
    assert lesson.solution_after == 3  # the default (the lesson may set solution_after_attempts)
    at = lesson_app().run()
    state = at.session_state["lessons"]["assign-the-model"]
    state.attempts = 2
    state.code = lesson.starter + "# third try\n"
    at.button(key="run-assign-the-model").click().run()
    run_until(at, "Not yet.")
    assert at.session_state["lessons"]["assign-the-model"].attempts == 3
    assert "How to fix it: Return it and assign the result at module level. Write model = build_model()." in texts(at)
    assert [c for c in at.code if c.language == "diff"]


def test_a_run_that_waits_for_nothing_shows_no_queue() -> None:
    """Issue 11: no "Queued" flash when nothing waits; the time and the limit while it runs."""

    def script(created_ago: float, state: str) -> None:
        import time

        from tutor.runs.contract import Progress, RunSnapshot, RunStatus
        from ui.widgets import render_live

        started = None if state == "queued" else time.time() - 4.2
        snapshot = RunSnapshot(1, "me", "demo", "", RunStatus(state), Progress(phase="running"), "", None, None, 1,
                               time.time() - created_ago, started, None)  # fmt: skip
        render_live(snapshot, 120)

    just_queued = AppTest.from_function(script, args=(0.1, "queued")).run()
    assert "Queued" not in texts(just_queued) and "Starting" in texts(just_queued)
    waiting = AppTest.from_function(script, args=(5.0, "queued")).run()
    assert "Queued: position 1" in texts(waiting)
    running = AppTest.from_function(script, args=(5.0, "running")).run()
    assert re.search(r"Running your code\*\* · 4\.\d s of at most 120 s", texts(running))


def test_one_error_in_several_cases_is_explained_once() -> None:
    """load-or-build runs three cases; the same NameError in two of them was said in full twice."""
    from ui.state import get_lessons

    at = lesson_app("load-or-build").run()
    at.session_state["lessons"]["load-or-build"].code = get_lessons().get("load-or-build").starter + "# try\n"
    at.button(key="run-load-or-build").click().run()
    run_until(at, "Not yet.", timeout=180)
    page = texts(at)
    assert page.count("Line 12: NameError: name 'layers' is not defined.") == 1
    assert "Case “A saved my_model.keras: load it and train it”: not yet" in page
    assert repeated_sentences(page) == [], page


def test_the_function_itself_instead_of_its_result_is_explained() -> None:
    """`model = build_model` (a listed wrong variant): the AttributeError says why, from the source; the
    fix shows once the learner has tried enough, as for a NameError."""
    from ui.state import get_lessons

    lesson = get_lessons().get("assign-the-model")
    at = lesson_app().run()
    state = at.session_state["lessons"]["assign-the-model"]
    state.code = lesson.starter.replace("\nbuild_model()\n", "\nmodel = build_model\n")
    at.button(key="run-assign-the-model").click().run()
    run_until(at, "Not yet.")
    page = texts(at)
    assert page.count("Line 24: your program raised AttributeError: 'function' object has no attribute 'fit'") == 1
    assert "model holds the function build_model itself: line 23 writes model = build_model without parentheses" in page
    assert "How to fix it" not in page  # one real try
    assert repeated_sentences(page) == []
    state = at.session_state["lessons"]["assign-the-model"]
    state.attempts = 2
    at.button(key="run-assign-the-model").click().run()
    run_until(at, "How to fix it")
    assert "How to fix it: Call it and keep what it returns: model = build_model()." in texts(at)


@pytest.mark.tf
def test_ctrl_enter_on_the_starter_shows_the_whole_verdict() -> None:
    """The "blank gap" report: once, after Ctrl+Enter, the verdict had no "What happened", only a gap. A
    Ctrl+Enter run now starts the page over, as a click on Run does: the run is looked at once, before
    anything is drawn, and the verdict is drawn whole with its code, then focused once."""
    from ui.editor import RUN_MARKER
    from ui.state import get_lessons

    starter = get_lessons().get("assign-the-model").starter
    at = lesson_app().run()
    for token in ("1", "2"):  # the second run replaces a verdict already on the page
        at.session_state["editor-assign-the-model-0"] = starter + RUN_MARKER + token
        at.run()
        run_until(at, "This is the starter code, as given.")
        page = texts(at)
        assert page.count("What happened") == 1, page
        assert "On line 24, Python looked for the name model and found nothing." in page
        state = at.session_state["lessons"]["assign-the-model"]
        assert state.last_token == token and state.finished_job == state.job
        assert state.shown is not None and state.shown.source == starter and not state.shown.focus


def test_a_starter_stopped_from_outside_says_so() -> None:
    """The starter as given, stopped by a limit before its error (a busy host): the page said "It stops where
    the lesson said it would" and hid why it stopped. It says what stopped it instead."""

    def script(termination: str) -> None:
        from tutor.checks.judge import CheckResult
        from tutor.grading.verdict import CaseVerdict, Verdict
        from tutor.sandbox.results import ErrorInfo, RunResult, Termination
        from ui.widgets import render_verdict

        ended = Termination(termination)
        if ended is Termination.FINISHED:
            error = ErrorInfo("NameError", "name 'model' is not defined", 24, name="model", is_name_error=True)
            result = RunResult(ended, 6.4, error=error)
        else:
            result = RunResult(ended, 6.4, detail="Your program ran past the time limit of 120 s and was stopped.")
        check = CheckResult("no_name_error", False, result.detail or "NameError: name 'model' is not defined")
        render_verdict(Verdict("demo", False, [CaseVerdict("main", "Main", False, [check], result)], checks=[check],
                               attempt=False))  # fmt: skip

    stopped = texts(AppTest.from_function(script, args=("timeout",)).run())
    assert "It stops where the lesson said it would" not in stopped
    assert "stopped before it reached the error this lesson is about" in stopped
    assert "ran past the time limit of 120 s" in stopped
    as_meant = texts(AppTest.from_function(script, args=("finished",)).run())
    assert "It stops where the lesson said it would" in as_meant
    assert "Python looked for the name model and found nothing" in as_meant
