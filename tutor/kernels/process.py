"""One notebook kernel: a sandbox (from the warm pool when one is ready) turned into an IPython kernel, and
the ``jupyter_client`` that talks to it over the IPC sockets in the sandbox's kernel folder.

Cells run one at a time, each with a wall-clock limit and an output cap. Past either (or on Stop), the
kernel is interrupted the way Jupyter does it, by an ``interrupt_request`` on the control channel (the
kernel raises KeyboardInterrupt in the cell and lives on); a kernel that does not stop within a few seconds
of that is killed, and the learner is told its state is gone. Whatever a cell prints or shows is untrusted:
kept as plain text, figures as PNG bytes, both capped.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import queue
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tutor import settings
from tutor.kernels.contract import CellOutput, CellRun, CellStatus, OutputKind
from tutor.sandbox.dataset import Dataset
from tutor.sandbox.fonts import font_cache
from tutor.sandbox.isolation import Level, Limits, cpu_limit_s
from tutor.sandbox.protocol import MAX_FIGURE_BYTES, EventType, decode_event
from tutor.sandbox.runner import Sandbox, WarmPoolLike, start_sandbox
from tutor.sandbox.terminal import strip_ansi

CONNECTION_NAME = "connection.json"  # what tutor/sandbox/kernel_boot.py writes in the kernel folder
READY_TIMEOUT_S = 60.0  # a cold sandbox imports IPython first; TensorFlow comes with the first cell
INTERRUPT_GRACE_S = 5.0  # after an interrupt, how long a cell may take to stop before the kernel is killed
MAX_MESSAGE_BYTES = (
    128 * 1024 * 1024
)  # one message from the kernel (a flood of print is flushed as one); larger: dropped
MAX_SOCKET_PATH = 100  # unix socket paths are limited to 107 bytes; ZeroMQ adds "-N"
OutputCallback = Callable[[CellOutput], None]


class KernelStartError(RuntimeError):
    """The kernel could not start; the message says why in words."""


class KernelProcess:
    """A started kernel. Not thread-safe: its owner (tutor.kernels.hub) runs one cell at a time."""

    def __init__(self, sandbox: Sandbox, client: Any, link: Path | None) -> None:
        self.sandbox = sandbox
        self.client = client
        self._link = link
        self.warm = sandbox.warm
        self.cpu_s = cpu_limit_s(sandbox.limits)  # its processor time over its whole life (RLIMIT_CPU)
        self.started_at = time.monotonic()
        self.execution_count = 0

    @classmethod
    def start(
        cls,
        level: Level,
        limits: Limits,
        dataset: Dataset,
        pool: WarmPoolLike | None = None,
        files: dict[str, bytes] | None = None,
    ) -> KernelProcess:
        sandbox = pool.take(level, limits, dataset) if pool is not None else None
        if sandbox is None:
            # Cold: no TensorFlow import ahead (the first cell that imports it pays), so the kernel is
            # ready in about half a second either way.
            sandbox = start_sandbox(level, limits, dataset, warm=False)
        try:
            return cls._boot(sandbox, files or {})
        except BaseException:
            sandbox.close()
            raise

    @classmethod
    def _boot(cls, sandbox: Sandbox, files: dict[str, bytes]) -> KernelProcess:
        import zmq  # only the side that runs kernels needs these
        from jupyter_client import BlockingKernelClient

        for name, content in files.items():  # a lesson case's files, copied into the kernel's home
            (sandbox.stage / name).write_bytes(content)
            os.chmod(sandbox.stage / name, 0o644)
        folder = sandbox.kernel_dir
        as_root = os.geteuid() == 0 and sandbox.level is Level.STRICT
        key = secrets.token_hex(32)
        launch = sandbox.launch
        config = {
            "kernel": {"folder": launch.kernel_dir or str(folder), "key": key},
            "learner_file": f"{launch.learner_dir}/main.py",
            "case_dir": launch.case_dir,
            "dataset": {
                "kind": str(sandbox.dataset.kind),
                "path": launch.dataset_path,
                "description": sandbox.dataset.description,
            },
            "font_cache": font_cache(),
        }
        try:
            sandbox.process.stdin.write(json.dumps(config).encode())
            sandbox.process.stdin.close()
        except OSError as exc:
            raise KernelStartError(f"the sandbox ended before the kernel could start ({exc})") from exc
        _drain(sandbox)
        deadline = time.monotonic() + READY_TIMEOUT_S
        connection = folder / CONNECTION_NAME
        while not connection.exists():
            if not sandbox.alive():
                raise KernelStartError(f"the kernel ended while starting: {_last_words(sandbox)}")
            if time.monotonic() > deadline:
                raise KernelStartError(f"the kernel did not start within {READY_TIMEOUT_S:g} s")
            time.sleep(0.01)
        info = _read_connection(connection)
        host_folder, link = _short_path(folder)
        info["ip"] = str(host_folder / Path(info["ip"]).name)
        # Everything the kernel sends is the learner's: a message larger than this is dropped by ZeroMQ
        # before it is held in the server's memory (a figure is at most MAX_FIGURE_BYTES, base64 in JSON).
        context = zmq.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        context.setsockopt(zmq.LINGER, 0)
        client = BlockingKernelClient(context=context)
        client.load_connection_info(info)
        client.start_channels(hb=False)  # (a heartbeat missed on a busy host would read as a dead kernel)
        try:
            _wait_for_answer(client, sandbox, deadline)
        except KernelStartError:
            client.stop_channels()
            context.destroy(linger=0)
            if link is not None:
                link.unlink(missing_ok=True)
            raise
        if as_root:
            # Its sockets exist: from now on the learner's uid may not create anything in that folder.
            os.chown(folder, 0, 0)
            os.chmod(folder, 0o711)
        return cls(sandbox, client, link)

    def alive(self) -> bool:
        return self.sandbox.alive()

    def resident_mb(self) -> float:
        """What the kernel holds now (its cgroup when there is one, else what the warm sandbox reported)."""
        cgroup = self.sandbox.cgroup
        if cgroup is not None:
            try:
                return int((cgroup.memory_dir / "memory.usage_in_bytes").read_text()) / 1024 / 1024
            except (OSError, ValueError):
                pass
        return self.sandbox.rss_mb

    def interrupt(self) -> None:
        """Jupyter's interrupt: KeyboardInterrupt in the running cell; the kernel's state stays."""
        try:
            message = self.client.session.msg("interrupt_request", content={})
            self.client.control_channel.send(message)
        except Exception:  # noqa: BLE001 - a dead kernel cannot be interrupted; the caller sees it died
            pass

    def execute(
        self,
        cell_id: str,
        code: str,
        limits: Limits,
        on_output: OutputCallback | None = None,
        stop: threading.Event | None = None,
    ) -> CellRun:
        """Run one cell to its end (or its limit) and return what it did."""
        run = CellRun(cell_id)
        started = time.monotonic()
        if not self.alive():
            run.status, run.note = CellStatus.DIED, died_words(self)
            return run
        cap = limits.output_kb * 1024
        kept = 0
        reason = ""
        interrupted_at: float | None = None
        msg_id = self.client.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)

        def keep(output: CellOutput) -> None:
            nonlocal kept, reason
            size = len(output.text) + len(output.traceback) + (len(output.png) if output.png else 0)
            if kept + size > cap:
                reason = reason or f"The cell printed more than {limits.output_kb} KiB, so it was stopped."
                return
            kept += size
            run.outputs.append(output)
            if on_output is not None:
                on_output(output)

        while True:
            now = time.monotonic()
            if interrupted_at is None:
                if stop is not None and stop.is_set():
                    reason = "You stopped the cell."
                elif now - started > limits.wall_s:
                    reason = f"The cell ran past {limits.wall_s:g} s, the time limit for one cell, so it was stopped."
                if reason:
                    self.interrupt()
                    interrupted_at = now
            elif now - interrupted_at > INTERRUPT_GRACE_S:
                self.sandbox.kill()
                run.status = CellStatus.DIED
                run.note = (
                    f"{reason} It did not stop when interrupted, so the kernel was shut down and its variables "
                    "are gone: restart it."
                )
                break
            try:
                message = self.client.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                if not self.alive():
                    run.status, run.note = CellStatus.DIED, died_words(self)
                    break
                continue
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message.get("msg_type"), message.get("content", {})
            if kind == "execute_input":
                run.execution_count = content.get("execution_count")
            elif kind == "stream":
                keep(CellOutput(OutputKind.STREAM, str(content.get("text", "")), name=str(content.get("name", ""))))
            elif kind in ("display_data", "execute_result"):
                output = _display_output(content.get("data") or {})
                if output is not None:
                    keep(output)
            elif kind == "error":
                trace = strip_ansi("\n".join(str(line) for line in content.get("traceback") or []))
                text = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
                keep(
                    CellOutput(
                        OutputKind.ERROR, strip_ansi(text), name=str(content.get("ename", "")), traceback=trace[-20000:]
                    )
                )
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        if run.status is not CellStatus.DIED:
            if reason:
                run.status, run.note = CellStatus.INTERRUPTED, reason
            elif run.error is not None:
                run.status = CellStatus.ERROR
            else:
                run.status = CellStatus.OK
        if run.execution_count:
            self.execution_count = max(self.execution_count, run.execution_count)
        run.duration_s = round(time.monotonic() - started, 3)
        return run

    def close(self) -> None:
        try:
            self.client.stop_channels()
            self.client.context.destroy(linger=0)
        except Exception:  # noqa: BLE001 - closing a kernel never fails its caller
            pass
        self.sandbox.close()
        if self._link is not None:
            self._link.unlink(missing_ok=True)


def _wait_for_answer(client: Any, sandbox: Sandbox, deadline: float) -> None:
    """Ask kernel_info until the kernel answers on the shell channel and its status reaches us on iopub (so
    the first cell's output cannot be sent before we listen), or the kernel ends, or the deadline passes."""
    while True:
        if not sandbox.alive():
            raise KernelStartError(f"the kernel ended while starting: {_last_words(sandbox) or 'no reason given'}")
        if time.monotonic() > deadline:
            raise KernelStartError(f"the kernel did not answer within {READY_TIMEOUT_S:g} s")
        msg_id = client.kernel_info()
        answered = heard = False
        until = time.monotonic() + 2.0
        while time.monotonic() < until and not (answered and heard):
            try:
                if not answered:
                    reply = client.get_shell_msg(timeout=0.1)
                    answered = reply.get("parent_header", {}).get("msg_id") == msg_id
                else:
                    client.get_iopub_msg(timeout=0.1)
                    heard = True
            except queue.Empty:
                continue
        if answered and heard:
            while True:  # what is left on iopub belongs to start-up, not to the first cell
                try:
                    client.get_iopub_msg(timeout=0.01)
                except queue.Empty:
                    return


def died_words(kernel: KernelProcess) -> str:
    """Why a kernel is gone, in the learner's words (Jupyter's "the kernel died")."""
    cgroup = kernel.sandbox.cgroup
    why = ""
    if cgroup is not None and cgroup.oom_kills() > 0:
        why = " It ran out of memory."
    elif _last_words(kernel.sandbox):
        why = f" The grader's side of it said: {_last_words(kernel.sandbox)}"
    else:
        why = _exit_words(kernel.sandbox.process.returncode, kernel.cpu_s)
    return f"Your kernel died, and its variables went with it.{why} Restart the kernel and run the cells again."


def _exit_words(returncode: int | None, cpu_s: int) -> str:
    """bubblewrap passes a child's death by signal on as 128 + N; Popen reports its own as -N."""
    if returncode is None:
        return ""
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    if number in (signal.SIGXCPU, signal.SIGKILL):  # (at the CPU limit Linux sends both at once: SIGKILL wins)
        return (
            f" It was killed by a limit of the sandbox: its processor time ({cpu_s} s over the kernel's life, "
            "which long trainings add up to) or its memory."
        )
    if number is not None:
        return f" It was ended by signal {number}."
    return f" Its process exited (status {returncode}): `os._exit` or `exit()` ends a kernel."


def _display_output(data: dict[str, Any]) -> CellOutput | None:
    png = data.get("image/png")
    if isinstance(png, str):
        try:
            raw = base64.b64decode(png, validate=False)
        except (binascii.Error, ValueError):
            raw = b""
        if raw.startswith(b"\x89PNG") and len(raw) <= MAX_FIGURE_BYTES:
            return CellOutput(OutputKind.IMAGE, str(data.get("text/plain", ""))[:200], png=raw)
        return CellOutput(OutputKind.RESULT, "[a figure too large to show]")
    text = data.get("text/plain")
    if isinstance(text, str):
        return CellOutput(OutputKind.RESULT, strip_ansi(text))
    return None


def _read_connection(path: Path) -> dict[str, Any]:
    for _ in range(100):  # written by the kernel: it may be half there for a moment
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(info, dict) and info.get("transport") == "ipc":
                return info
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise KernelStartError("the kernel's connection file is unreadable")


def _short_path(folder: Path) -> tuple[Path, Path | None]:
    """Unix socket paths are short (107 bytes): reach a deep folder through a short link in /tmp."""
    if len(str(folder)) + 4 <= MAX_SOCKET_PATH:
        return folder, None
    link = Path(tempfile.gettempdir()) / f"tk-{secrets.token_hex(6)}"
    link.symlink_to(folder)
    return link, link


def _drain(sandbox: Sandbox) -> None:
    """Read what the kernel process writes outside the kernel protocol (stdout, stderr, the harness's channel)
    so a full pipe can never block it; keep the last words for when it dies."""

    def read(fd: int, keep_tail: bool) -> None:
        # fd is this thread's own copy: closing the sandbox cannot hand its number to someone else mid-read.
        try:
            while chunk := os.read(fd, 65536):
                target = sandbox.last_words if keep_tail else sandbox.pending
                target += chunk
                del target[: -(4096 if keep_tail else 65536)]
        except OSError:
            pass
        finally:
            os.close(fd)

    fds = [stream.fileno() for stream in (sandbox.process.stdout, sandbox.process.stderr) if stream is not None]
    for fd in fds:
        threading.Thread(target=read, args=(os.dup(fd), True), daemon=True, name="tutor-kernel-out").start()
    threading.Thread(
        target=read, args=(os.dup(sandbox.events_fd), False), daemon=True, name="tutor-kernel-events"
    ).start()


def _last_words(sandbox: Sandbox) -> str:
    """The harness's own error report, if it sent one (what the process printed is not shown: a kernel's
    stdout holds only ipykernel's start-up banner and whatever the learner's code wrote there)."""
    for line in bytes(sandbox.pending).split(b"\n"):
        try:
            event = decode_event(line, sandbox.token)
        except ValueError:
            continue
        if event["type"] is EventType.HARNESS_ERROR:
            return str(event.get("error", ""))[:300]
    return ""


def kernel_limits(time_s: float | None = None) -> Limits:
    """A kernel's limits: a run's, with the cell's wall clock (the kernel itself lives until shut down)."""
    return Limits(wall_s=time_s or settings.kernel_cell_s())
