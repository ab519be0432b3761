"""Inside the sandbox: turn this sandbox process into a notebook kernel (an IPython kernel, ``ipykernel``).

Loaded by harness.py, by path, when the configuration it reads asks for a kernel instead of a program. The
process stays what it was: the same bubblewrap namespaces, uid, seccomp filter, limits and cgroup as any run,
TensorFlow already imported when it came from the warm pool. Only the way code arrives changes: cells come
over ZeroMQ sockets in ``/run/tutor/kernel`` (IPC transport, unix sockets: there is no network in here),
and the server outside talks to them with ``jupyter_client`` (tutor/kernels/process.py).

Standard library only at import time, like the harness; ipykernel is imported when the kernel starts.
"""

from __future__ import annotations

import json
import os
import sys

CONNECTION_NAME = "connection.json"
SOCKET_NAME = "k"  # ZeroMQ makes k-1 ... k-5 beside the connection file
PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # figures come back as image/png, as in Jupyter


def connection_info(folder: str, key: str) -> dict:
    """The kernel's connection file: IPC sockets under ``folder``, messages signed with ``key``."""
    return {
        "transport": "ipc",
        "ip": os.path.join(folder, SOCKET_NAME),
        "key": key,
        "signature_scheme": "hmac-sha256",
        "kernel_name": "python3",
        **PORTS,
    }


def serve(config: dict, harness) -> int:
    """Start the kernel and serve cells until the server shuts it down or kills the sandbox."""
    kernel = config["kernel"]
    folder = kernel["folder"]
    harness.prepare_workdir(config)  # the case's files and the real MNIST file where Keras looks for it
    harness.seed_font_cache(config.get("font_cache"))
    observer = harness.Observer(lambda *args, **fields: None, "<cell>", config.get("dataset") or {})
    if "keras" in sys.modules:  # a warm sandbox imported it already: serve MNIST from the provisioned file
        harness.patch_mnist(observer)
    else:
        hooks = {"keras": (lambda name: None, lambda module: harness.patch_mnist(observer))}
        sys.meta_path.insert(0, harness.ImportWatcher(hooks))
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    path = os.path.join(folder, CONNECTION_NAME)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(connection_info(folder, kernel["key"]), handle)

    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(
        [
            "-f",
            path,
            "--HistoryManager.enabled=False",  # no sqlite file in the learner's home
            "--IPKernelApp.quiet=True",
            "--InteractiveShell.colors=nocolor",  # tracebacks as plain text (the page shows text)
            "--InteractiveShell.xmode=Context",
        ]
    )
    if "matplotlib" in sys.modules:  # imported before the kernel (by TensorFlow's warm-up): switch it now
        import matplotlib

        matplotlib.rcParams["backend"] = INLINE_BACKEND
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].switch_backend(INLINE_BACKEND)
    app.start()
    return 0
