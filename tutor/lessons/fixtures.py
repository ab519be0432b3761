"""Fixture files a lesson generates (``generate = "fixtures/x.py"``), made in the sandbox.

A fixture script is code like a learner's: it runs in the same sandbox, under the same limits, as a
program of its own. The file it writes comes back over its stdout (base64 between two lines with a
token chosen per run; the sandbox has no folder the host can read), so no host path is ever writable
from inside. The result is cached by the hash of the script, the file's name and the installed Keras
version. A script that fails, loops or writes too much is a lesson error that names the lesson file,
the field and shows the script's own traceback. Cache entries unused for UNUSED_DAYS (an edited script,
an older Keras) are removed whenever a new one is made; a fixture still needed is simply made again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tutor import settings
from tutor.lessons.lesson import CaseFile, LessonError
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import Termination
from tutor.sandbox.runner import RunRequest, run_program

MAX_FIXTURE_BYTES = 2 * 1024 * 1024  # carried back as ~2.7 MB of base64 text; bigger files: use `copy`
UNUSED_DAYS = 30  # a cache entry not used for this long is removed (see prune_unused_fixtures)
LINE_CHARS = 1500  # base64 per stdout line: under the terminal rendering's 2000-character lines
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

DRIVER = """\
import base64, hashlib, sys

__script = {script!r}
with open(__script, encoding="utf-8") as __handle:
    __code = compile(__handle.read(), __script, "exec")
exec(__code, {{"__name__": "__main__", "__file__": __script, "__builtins__": __builtins__}})
try:
    with open({name!r}, "rb") as __handle:
        __data = __handle.read()
except FileNotFoundError:
    print({token!r} + " missing", flush=True)
    raise SystemExit(3)
if len(__data) > {limit}:
    print({token!r} + " too-big " + str(len(__data)), flush=True)
    raise SystemExit(3)
__text = base64.b64encode(__data).decode("ascii")
print("\\n" + {token!r} + " begin " + hashlib.sha256(__data).hexdigest())
for __start in range(0, len(__text), {width}):
    print(__text[__start:__start + {width}])
print({token!r} + " end", flush=True)
"""


class FixtureError(LessonError):
    """A lesson's fixture script failed: names the lesson file and the field, shows what happened."""


def keras_version() -> str:
    """From the package metadata: importing keras would pull TensorFlow into the server."""
    try:
        return version("keras")
    except PackageNotFoundError:
        return "none"


def fixture_key(script: bytes, name: str) -> str:
    return hashlib.sha256(script + b"\0" + name.encode() + b"\0" + keras_version().encode()).hexdigest()


def generate_fixture(case_file: CaseFile, limits: Limits | None = None) -> Path:
    """The cached file ``case_file.generate`` writes, made in the sandbox on first use."""
    script = case_file.generate
    assert script is not None
    where = f"{case_file.where}.generate" if case_file.where else "generate"
    lesson_path = case_file.lesson_path or script
    try:
        script_bytes = script.read_bytes()
    except OSError as exc:
        raise FixtureError(lesson_path, where, f"cannot read {script}: {exc.strerror}") from None
    key = fixture_key(script_bytes, case_file.name)
    target = settings.fixtures_dir() / key[:16] / case_file.name
    with _lock_for(key):
        if target.is_file():
            with contextlib.suppress(OSError):  # used now: its age says how long since it was last needed
                os.utime(target.parent)
            return target
        data = _run_script(script, script_bytes, case_file.name, limits or Limits(), lesson_path, where)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, target)  # readers never see half a file
    prune_unused_fixtures()
    return target


def prune_unused_fixtures(max_age_s: float = UNUSED_DAYS * 86400) -> list[Path]:
    """Remove cache entries not used for ``max_age_s``; returns what was removed. Without this every
    edit of a fixture script in the studio and every Keras upgrade would leave a file behind for good."""
    removed = []
    cutoff = time.time() - max_age_s
    for entry in settings.fixtures_dir().iterdir():
        try:
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed.append(entry)
        except OSError:
            continue  # another process removed or is using it: next time
    return removed


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _run_script(script: Path, source: bytes, name: str, limits: Limits, lesson_path: Path, where: str) -> bytes:
    token = f"tutor-fixture-{secrets.token_hex(8)}"
    staged = script.name if script.name not in ("main.py", name) else "fixture_script.py"
    driver = DRIVER.format(script=staged, name=name, token=token, limit=MAX_FIXTURE_BYTES, width=LINE_CHARS)
    # Same limits as a learner's run; only the output allowance grows, to carry the file back.
    room_kb = MAX_FIXTURE_BYTES * 4 // 3 // 1024 + 256
    request = RunRequest(driver, {staged: source}, replace(limits, output_kb=max(limits.output_kb, room_kb)))
    result = run_program(request)

    def fail(problem: str) -> FixtureError:
        return FixtureError(lesson_path, where, f"the fixture script {script.name} {problem}")

    if result.termination.is_infrastructure:
        raise RuntimeError(f"the sandbox could not run the fixture script {script}: {result.detail}")
    if result.error is not None:
        traceback = re.sub(r'  File "main.py", line \d+, in <module>\n    exec\(.*\n', "", result.error.traceback)
        traceback = traceback.strip() or f"{result.error.type}: {result.error.message}"  # the script's own frames
        raise fail(f"failed:\n{traceback}")
    if result.termination is Termination.TIMEOUT:
        raise fail(f"was stopped after {limits.wall_s:g} s, the time limit (limits.time_s)")
    if result.termination not in (Termination.FINISHED, Termination.EXITED):
        raise fail(f"was stopped: {result.detail.replace('Your program', 'it')}")
    found = re.search(rf"^{token} (missing|too-big \d+)$", result.stdout, re.MULTILINE)
    if found and found.group(1) == "missing":
        raise fail(f"ran, but did not write {name} into its working folder")
    if found:
        size = int(found.group(1).split()[1])
        raise fail(f"wrote {name} of {size:,} bytes; at most {MAX_FIXTURE_BYTES:,} (ship bigger files with `copy`)")
    if result.termination is Termination.EXITED:
        raise fail(f"called sys.exit({result.exit_code}) before it finished")
    match = re.search(rf"^{token} begin ([0-9a-f]{{64}})\n(.*?)^{token} end$", result.stdout, re.MULTILINE | re.DOTALL)
    if match is None:
        raise fail(f"wrote {name}, but it did not come back out of the sandbox intact")
    data = base64.b64decode("".join(match.group(2).split()))
    if hashlib.sha256(data).hexdigest() != match.group(1):
        raise fail(f"wrote {name}, but it did not come back out of the sandbox intact")
    return data
