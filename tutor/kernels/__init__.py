"""Notebook kernels: one real IPython kernel per learner and notebook lesson, inside the same sandbox as
every run (bubblewrap, seccomp, limits, cgroup), started from the warm pool and driven from the server over
IPC sockets with ``jupyter_client``. This wing owns starting them (process.py), running cells with a time
limit and an output cap, the per-host registry with its cap and idle shutdown (hub.py), and replaying a
lesson's prescribed session for its proof (session.py). It never imports Streamlit; cells' outputs are
plain data (contract.py).
"""
