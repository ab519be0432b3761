"""Data and sandbox: which MNIST is in use, how runs are isolated. Learners read what concerns them; the
server's paths, limits and sandbox counts are for teachers (unlocked on the teacher page)."""

import streamlit as st

from tutor.sandbox.dataset import DatasetKind, format_status, get_dataset_status
from tutor.sandbox.isolation import IsolationError, Limits, resolve_level
from tutor.settings import sandbox_level
from ui.auth import is_teacher
from ui.state import get_runs

st.title("Data and sandbox")

st.subheader("MNIST")
status = get_dataset_status()
if status.active is DatasetKind.REAL:
    st.markdown("Your code trains on the real MNIST data set (60,000 training images of handwritten digits).")
else:
    st.markdown(
        "Your code trains on an offline stand-in for MNIST: the same shapes and types, built from 5,000 real "
        "MNIST digits, because the real file is not installed on this server. The lessons work the same."
    )
teacher = is_teacher()
if teacher:
    st.code(format_status(status), language=None)

st.subheader("Sandbox")
try:
    level = resolve_level(sandbox_level())
    if level == "strict":
        st.success("Runs are isolated with bubblewrap: no network, no access to the server's files, own user.")
    else:
        st.warning(
            "Runs have process limits only (level 'basic'): fine for one learner on their own computer, not for "
            "a shared classroom server. Install bubblewrap (`apt-get install bubblewrap`) for strict isolation."
        )
except IsolationError as exc:
    st.error(str(exc))
if not teacher:
    st.caption("A teacher sees the server's folders, limits and sandboxes here after unlocking the Teacher page.")
    st.stop()
limits = Limits()
st.markdown(
    f"Limits per run: {limits.wall_s:g} s (a lesson may set its own), {limits.memory_mb / 1024:g} GiB of memory, "
    f"{limits.processes} processes/threads, {limits.output_kb} KiB of output, files up to {limits.file_size_mb} MiB."
)
runs = get_runs()
st.markdown(runs.where_runs_happen())  # the run service's own words (counts and settings, no learner text)
counts = runs.counts()
st.markdown(
    f"Runs now: {counts['running']} running, {counts['queued']} queued (at most {counts['max_running']} at once)."
)

# Lesson files with errors are shown on the teacher page only: learners cannot fix them.
