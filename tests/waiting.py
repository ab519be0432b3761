"""Waiting in tests: on a condition, with a generous timeout, never a fixed sleep followed by a timing
assert (a busy 2-core CI machine makes those flaky; a condition only makes a slow machine slower).

``wait_for`` is the tests' one wait: it answers whether the condition came true in time, for an
``assert wait_for(...)`` (or ``assert not wait_for(..., timeout_s=1)`` for something that must not happen).
tests/queue_support.py's ``wait_until`` is a name over it that raises instead."""

from __future__ import annotations

import time
from collections.abc import Callable

GENEROUS_S = 30.0


def wait_for(condition: Callable[[], object], timeout_s: float = GENEROUS_S, interval_s: float = 0.01) -> bool:
    """True as soon as condition() is true; False if it is still false after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval_s)
    return True
