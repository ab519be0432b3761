"""A seccomp filter for strict sandboxes, for the gaps bubblewrap leaves (README, "The sandbox"):
vsock sockets, nested user namespaces, the kernel keyring, and other kernel interfaces a learner's
TensorFlow program never needs. Everything else is allowed, so TensorFlow trains as usual.

Built once with libseccomp (through pyseccomp, a ctypes binding) and handed to bwrap as compiled BPF.
Where libseccomp is missing, strict runs go without the filter and `tutor doctor` says so.
"""

from __future__ import annotations

import errno
import functools
import tempfile

AF_VSOCK = 40
CLONE_NEWUSER = 0x10000000
DENIED = (
    # kernel keyring, namespaces and mounts, kernel modules, BPF and tracing, io_uring
    "keyctl", "add_key", "request_key", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "init_module", "finit_module", "delete_module", "kexec_load", "bpf", "perf_event_open", "userfaultfd",
    "ptrace", "io_uring_setup", "open_by_handle_at", "name_to_handle_at",
)  # fmt: skip


@functools.cache
def compiled_filter() -> bytes | None:
    """The filter as BPF bytes, or None when libseccomp cannot be used here."""
    try:
        import pyseccomp as seccomp

        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for name in DENIED:
            try:
                rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
            except (OSError, ValueError, RuntimeError):
                pass  # a syscall this architecture does not have
        rules.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, AF_VSOCK))
        rules.add_rule(
            seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)
        )
        # clone3 passes its flags in memory a filter cannot read: refuse it, and glibc falls back to clone.
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        with tempfile.TemporaryFile() as handle:
            rules.export_bpf(handle)
            handle.seek(0)
            return handle.read()
    except Exception:  # no libseccomp (e.g. macOS) or an unusable binding: run without the filter
        return None
