"""matplotlib's font list, built once outside the sandbox and handed to every run.

On its first import in a fresh home, matplotlib scans the fonts and writes the list to its cache folder. Each
sandbox has a fresh home, so every plotting run would pay for the scan (measured: 0.1-0.25 s), and the scan
runs ``fc-list``, which finds no fontconfig setup in the sandbox and says so on the learner's stderr. So the
list is built here, once, by a separate interpreter (the server itself never imports matplotlib), and sent
with the run's configuration; the harness writes it where matplotlib looks before matplotlib is imported.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import TypedDict

from tutor import settings

# Prints the cache file's name (it carries the font list's version) once matplotlib has written it.
BUILD = "import matplotlib.font_manager as fm; print(f'fontlist-v{fm.FontManager.__version__}.json')"


class FontCache(TypedDict):
    name: str  # the file name matplotlib reads, e.g. fontlist-v3.11.0.json
    text: str  # its JSON


@functools.cache
def font_cache() -> FontCache | None:
    """The font list for this install, or None where matplotlib is missing or fails (runs then build their
    own, as matplotlib always does)."""
    folder = settings.var_dir() / "matplotlib"
    # A fixed PATH (the system's fc-list): only tutor.settings reads the environment.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(folder), "MPLCONFIGDIR": str(folder)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-I", "-c", BUILD], env={**env, "MPLBACKEND": "Agg"}, capture_output=True, timeout=120
        )
        name = done.stdout.decode().strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else ""
        if not (name.startswith("fontlist-") and name.endswith(".json") and "/" not in name):
            return None
        text = (Path(folder) / name).read_text(encoding="utf-8")
        json.loads(text)  # a half-written file is no font list
        return {"name": name, "text": text}
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        logging.getLogger("tutor").info("no prebuilt matplotlib font list: %s", exc)
        return None
