"""The seccomp policy shared by the backends: one list, two encodings.

The policy allows ordinary computation (Python, NumPy, PyTorch, threads, fork) and
refuses what a lab job never needs and an escape usually does: new namespaces, mounts,
tracing other processes, kernel keyrings, BPF, io_uring, loading kernel modules, and any
socket that is not a local (AF_UNIX) one. Refused calls fail with EPERM (EACCES for
sockets, ENOSYS for clone3 so glibc falls back to the filterable clone) instead of
killing the process, so a library that probes for a feature keeps working.

* :func:`build_bpf` gives the BPF program bubblewrap loads with ``--seccomp FD``
  (built with ``pyseccomp``, ctypes over the system's libseccomp2).
* :func:`docker_profile` gives the same rules as a Docker seccomp profile (JSON text
  for ``security_opt=["seccomp=<json>"]``).
"""

from __future__ import annotations

import errno
import json
import os
import socket

#: Syscalls refused outright.
DENIED_SYSCALLS: tuple[str, ...] = (
    # namespaces and mounts: the sandbox's own walls
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    # looking into or controlling other processes
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    # kernel attack surface a training script does not need
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "fanotify_init",
    "quotactl",
    "quotactl_fd",
    # the machine itself
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "vhangup",
    "nfsservctl",
    "uselib",
    "_sysctl",
)

#: Namespace flags that make clone() create a namespace (CLONE_NEW*).
CLONE_NAMESPACE_FLAGS: tuple[int, ...] = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)

#: The only socket family a job may create.
ALLOWED_SOCKET_FAMILY = socket.AF_UNIX


def build_bpf() -> int:
    """Return a readable fd (at offset 0) holding the compiled BPF program.

    The caller passes it to bubblewrap (``--seccomp FD``, ``pass_fds``) and closes it
    after the launch. Raises ``ImportError``/``OSError`` when libseccomp is missing.
    """
    import pyseccomp as sc

    flt = sc.SyscallFilter(sc.ALLOW)
    # Syscalls of other ABIs (i386 int 0x80, x32) get the "bad arch" action: the filter
    # only lists native syscalls, and libseccomp kills on a foreign arch by default.
    for name in DENIED_SYSCALLS:
        try:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        except OSError:
            # A syscall this architecture does not have (e.g. iopl on arm64).
            continue
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in CLONE_NAMESPACE_FLAGS:
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.EACCES), "socket", sc.Arg(0, sc.NE, ALLOWED_SOCKET_FAMILY))
    # socketpair() can only make AF_UNIX pairs anyway; io_uring (which can open sockets)
    # is denied above.
    fd = os.memfd_create("labs-seccomp", os.MFD_CLOEXEC)
    with os.fdopen(os.dup(fd), "wb") as out:
        flt.export_bpf(out)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def docker_profile() -> str:
    """The same policy as a Docker seccomp profile, as compact JSON text."""
    syscalls: list[dict] = [
        {"names": list(DENIED_SYSCALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno.EACCES,
            "args": [{"index": 0, "value": ALLOWED_SOCKET_FAMILY, "op": "SCMP_CMP_NE"}],
        },
    ]
    for flag in CLONE_NAMESPACE_FLAGS:
        syscalls.append(
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EPERM,
                "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
            }
        )
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": syscalls,
    }
    return json.dumps(profile, separators=(",", ":"))
