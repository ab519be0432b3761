"""The fork server's side inside its sandbox: TensorFlow imported once, each run forked into a sandbox of its own.

Loaded by harness.py (``load_sibling``) when its boot line asks for a fork server; standard library only.
The server process lives in a strict bubblewrap sandbox started as root (tutor/sandbox/forkserver.py), has
imported TensorFlow and Keras (no op run: a process that ran one cannot fork a working child), and then
only reads requests from the runner on a private socket. It never runs learner code. For each request:

- A (forked from here, still root in the server's namespaces) unshares new mount, pid, network, IPC and
  UTS namespaces, makes the run's own mounts: fresh sized tmpfs on the home, /tmp and /dev/shm, the
  run's staged files read-only at the case folder, and an empty tmpfs over the other runs' folders. It
  then waits for B and tells the runner B's exit status.
- B (pid 1 of the run's pid namespace) enters the run's cgroups, mounts its own /proc, tells the runner
  its pid (SCM_CREDENTIALS: the kernel writes the pid as the runner sees it), drops to the run's own
  uid with no capabilities and no new privileges, loads the seccomp filter and the run's rlimits, and
  starts C. Like bubblewrap's init, it reaps orphans and ends when C ends (ending the namespace with it).
- C is the harness for one program, exactly as a warm sandbox would be after its imports.

So each run gets what bubblewrap + setpriv + prlimit gave a fresh sandbox (namespaces, uid, cgroup,
folders, limits, seccomp), without importing TensorFlow again: a run starts in milliseconds.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 22, 24, 38
SECCOMP_MODE_FILTER = 2
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
MAX_FDS = 8
LAST_CAP = 63  # dropping a capability the kernel does not know fails harmlessly

_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)), target)


def _tmpfs(target: str, size_mb: int, mode: str, flags: int = 0) -> None:
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | flags, f"size={size_mb * 1024 * 1024},mode={mode}")


def _loopback_up() -> None:
    """A new network namespace has only ``lo``, down; bubblewrap brings it up, so do we (no other device)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        import fcntl

        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))


def mounts_below(folder: str) -> list[str]:
    """The outermost mount points strictly below ``folder`` (from /proc/self/mountinfo)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            point = line.split()[4]
            point = point.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
            if point.startswith(folder + "/"):
                points.append(point)
    outermost: list[str] = []
    for point in sorted(points):
        if not any(point.startswith(outer + "/") for outer in outermost):
            outermost.append(point)
    return outermost


def make_mounts(request: dict, paths: dict) -> None:
    """A's part: the run's own namespaces and folders (we are still root in the server's sandbox)."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here reaches the server or other runs
    limits = request["limits"]
    # A checkout or venv under /tmp is bound inside the server's /tmp (isolation.build_launch): hold on to
    # those mounts, cover /tmp with the run's own, and bind them again in it, read-only as before.
    held = [(point, os.open(point, os.O_PATH)) for point in mounts_below("/tmp")]
    _tmpfs("/tmp", limits["tmp_mb"], "1777")
    for point, fd in held:
        os.makedirs(point, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", point, None, MS_BIND | MS_REC)
        _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    _tmpfs("/dev/shm", limits["shm_mb"], "1777")
    _tmpfs(paths["home"], limits["disk_mb"], "0777")
    own = os.path.join(paths["cases"], request["id"])
    _mount(os.path.join(own, "stage"), paths["case"], None, MS_BIND)
    _mount(None, paths["case"], None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _mount(os.path.join(own, "kernel"), paths["kernel"], None, MS_BIND)  # a notebook kernel's sockets
    # The other runs' staged programs are below the cases folder: cover it with an empty, read-only tmpfs.
    _tmpfs(paths["cases"], 1, "0755", MS_RDONLY)
    _loopback_up()


def drop_privileges(request: dict, bpf: bytes | None) -> None:
    """B's part, once its mounts are made: the run's own uid, no capabilities, no way back, its limits."""
    for cap in range(LAST_CAP + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    uid = int(request["uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another uid: the kernel clears every capability
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if bpf:
        program = ctypes.create_string_buffer(bpf, len(bpf))
        fprog = _SockFprog(len(bpf) // 8, ctypes.cast(program, ctypes.c_void_p))
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")
    limits, mib = request["limits"], 1024 * 1024
    for which, value in (
        (resource.RLIMIT_DATA, limits["memory_mb"] * mib),
        (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mib),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
        (resource.RLIMIT_NPROC, limits["processes"]),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, limits["cpu_s"]),
    ):
        resource.setrlimit(which, (value, value))


def _exit_status(status: int) -> int:
    """As bubblewrap reports its child: the exit code, or 128 + the signal that ended it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def run_init(request: dict, fds: dict, paths: dict, bpf: bytes | None, harness) -> None:
    """B: pid 1 of the run's namespace. Never returns."""
    code = 70
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.setsid()
        for fd in fds["cgroups"]:
            os.write(fd, b"0")  # "0": the writer itself; its children are born inside
            os.close(fd)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        control = socket.socket(fileno=fds["control"])
        control.send(b"pid")  # the runner reads our pid, as it sees it, from the credentials
        control.close()
        drop_privileges(request, bpf)
        os.chdir(paths["home"])
        child = os.fork()
        if child == 0:
            run_program(fds, request, harness)
        # Keep our copies of the output pipes until we end, as bubblewrap's init does: the runner then sees
        # them close only once our exit status is on its way, and never mistakes a finished run for a hung one.
        os.close(fds["stdin"])
        while True:  # reap orphans until the harness itself ends
            pid, status = os.waitpid(-1, 0)
            if pid == child:
                code = _exit_status(status)
                break
    except BaseException as exc:  # noqa: BLE001 - said on stderr, which the runner keeps
        os.write(2, f"fork server: run init failed: {type(exc).__name__}: {exc}\n".encode())
    os._exit(code)


def run_program(fds: dict, request: dict, harness) -> None:
    """C: the harness for one program. Never returns."""
    code = 70
    try:
        for target, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            os.dup2(fds[name], target)
            os.close(fds[name])
        reseed_random()
        # Changing uid made B (and so us) not dumpable, which a fresh interpreter is: /proc/self would be
        # root's. B keeps it (it holds the run's pipes); the program's own process is as Python's would be.
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        send = harness.make_sender(fds["events"], request["token"])
        prefault_mb = int(request.get("prefault_mb", 0))
        if prefault_mb:  # forked ahead of its run: touch the memory its arrays will take now, then wait
            send(harness.Event.STARTED, pid=os.getpid(), python=sys.version.split()[0])
            harness.prefault_heap(prefault_mb)
            send(harness.Event.READY, rss_mb=harness.resident_mb())
        code = harness.serve_program(send, fds["events"], started=bool(prefault_mb))
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def reseed_random() -> None:
    """A fresh interpreter seeds NumPy's global generator from the system; a fork would inherit the
    server's, and every run would draw the same "random" numbers. (Python's own ``random`` reseeds itself
    after a fork; TensorFlow seeds its kernels at their first op, which runs here, never in the server.)"""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def start_run(request: dict, fds: dict, paths: dict, bpf: bytes | None, harness) -> None:
    """A: the run's namespaces, then B; reports B's exit status on the run's control socket. Never returns."""
    status_line = b"exit 70"
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        make_mounts(request, paths)
        child = os.fork()
        if child == 0:
            run_init(request, fds, paths, bpf, harness)
        for fd in (fds["stdin"], fds["stdout"], fds["stderr"], fds["events"], *fds["cgroups"]):
            os.close(fd)
        _, status = os.waitpid(child, 0)
        if os.WIFSIGNALED(status):
            status_line = f"exit -{os.WTERMSIG(status)}".encode()
        else:
            status_line = f"exit {os.WEXITSTATUS(status)}".encode()
    except BaseException as exc:  # noqa: BLE001
        os.write(2, f"fork server: run setup failed: {type(exc).__name__}: {exc}\n".encode())
    try:
        os.write(fds["control"], status_line)
    finally:
        os._exit(0)


def serve(boot: dict, harness, own_fds: tuple[int, ...]) -> int:
    """The server's loop: one request per message (JSON plus the run's file descriptors), until the runner
    closes the socket. ``own_fds`` are the server's channels, closed in every run."""
    server = socket.socket(fileno=int(boot["control_fd"]))
    bpf = None
    if boot.get("seccomp_fd") is not None:
        with os.fdopen(int(boot["seccomp_fd"]), "rb") as handle:
            bpf = handle.read()
    paths = boot["paths"]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the runs' A processes are reaped by the kernel
    while True:
        try:
            message, received, _, _ = socket.recv_fds(server, 65536, MAX_FDS)
        except InterruptedError:
            continue
        if not message:
            return 0
        try:
            request = json.loads(message)
            names = ["control", "stdin", "stdout", "stderr", "events"]
            fds = dict(zip(names, received, strict=False))
            fds["cgroups"] = received[len(names) :]
            if len(received) < len(names) or not str(request["id"]).replace("-", "").isalnum():
                raise ValueError("a request without its file descriptors or with a bad id")
        except (ValueError, KeyError, TypeError) as exc:
            os.write(2, f"fork server: bad request: {exc}\n".encode())
            for fd in received:
                os.close(fd)
            continue
        if os.fork() == 0:
            server.close()
            for fd in own_fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            start_run(request, fds, paths, bpf, harness)
        for fd in received:
            os.close(fd)
