"""The app's server: `streamlit run app.py`, with the pages' modules imported while the server starts.

Streamlit runs app.py, and so imports the pages, the engine and the database layer (Alembic), only once a
browser has connected: on a 2-core machine that was ~0.7 s of the first page's 2.7 s. Here a thread imports
them once the server is up, while the browser loads Streamlit's scripts (~0.7 s in which the server only
waits), so the first page view finds them in ``sys.modules`` (bench/bench_ui.py). Not earlier: imports hold
the interpreter's lock, and the server's own start would wait for them. Nothing else changes: same arguments as
`streamlit run app.py`, and no TensorFlow (tests/test_app.py checks the server never imports it).

Usage: python serve.py [streamlit options]  (scripts/run.sh does this)
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# What the first page view imports, heaviest first; app.py imports the rest of its own.
PRELOAD = ("tutor.store.migrations", "app_pages.lesson", "ui.state", "ui.auth", "ui.widgets", "tutor.store.progress")


def preload_modules() -> None:
    from streamlit.runtime import Runtime
    from streamlit.runtime.runtime import RuntimeState

    for _ in range(600):  # until the server is up (a minute at most: then import anyway)
        if Runtime.exists() and Runtime.instance().state is not RuntimeState.INITIAL:
            break
        time.sleep(0.1)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the first page view imports it again and shows the error there
            logging.getLogger("tutor").exception("preloading %s failed", name)


def skip_component_scan() -> None:
    """Streamlit 1.67 reads every installed package's metadata at start for "v2" components (~0.35 s of a
    2-core machine's start, before the first page). This app has none (its editor and browser-id components
    are v1, declared by path), so the scan finds nothing here: skip it. If Streamlit moves the function,
    the scan simply runs."""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:
        return
    if hasattr(manifest_scanner, "scan_component_manifests"):
        manifest_scanner.scan_component_manifests = lambda max_workers=None: []


def main() -> None:
    sys.path.insert(0, str(ROOT))
    skip_component_scan()
    threading.Thread(target=preload_modules, name="tutor-preload", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
