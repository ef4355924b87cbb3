"""The seccomp policy shared by the backends: one policy, two encodings.

The policy allows ordinary computation (Python, NumPy, PyTorch, threads, fork) and
refuses what a lab job never needs and an escape usually does: new namespaces, mounts,
tracing other processes, kernel keyrings, BPF, io_uring, loading kernel modules, and any
socket that is not a local (AF_UNIX) one. Refused calls fail with an errno (EPERM for
:data:`DENIED_SYSCALLS`, EACCES for other socket families, ENOSYS for clone3 so glibc
falls back to the filterable clone) instead of killing the process, so a library that
probes for a feature keeps working.

It exists in two strengths:

* deny-by-default (``"allowlist"``): only the syscalls of our own allow-list
  (:mod:`.seccomp_allowlist`, grouped by purpose) are allowed, plus the conditional
  socket/socketpair/clone rules; everything else fails. This is the same kind of policy
  as Docker's default profile (deny by default, an allow-list, an architecture map),
  written for what a lab job runs. The Docker profile is always this.
* allow-by-default (``"denylist"``): everything except the denials above.

Unlisted syscalls fail with ENOSYS, not EPERM (:data:`DEFAULT_ERRNO`): "this kernel does
not have it" is the answer every library already handles by falling back to an older
call (glibc: clone3 -> clone, faccessat2 -> faccessat, fchmodat2 -> fchmodat; Python:
getrandom -> /dev/urandom), whereas EPERM for a call the list merely does not know yet
(a syscall newer than the list, or than the host's libseccomp) is taken as a real
refusal and breaks programs. Deliberate denials keep EPERM: there the refusal is the
truth.

* :func:`build_bpf` gives the BPF program bubblewrap loads with ``--seccomp FD``
  (built with ``pyseccomp``, ctypes over the system's libseccomp2), in either mode.
* :func:`docker_profile` gives the deny-by-default policy as a Docker seccomp profile
  (JSON text for ``security_opt=["seccomp=<json>"]``).
"""

from __future__ import annotations

import errno
import json
import os
import socket

from .seccomp_allowlist import ALLOWED_SYSCALLS

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

#: All of them: clone() with any of these bits set is refused.
CLONE_NAMESPACE_MASK = sum(CLONE_NAMESPACE_FLAGS)

#: The only socket family a job may create.
ALLOWED_SOCKET_FAMILY = socket.AF_UNIX

#: The errno of a syscall the allow-list does not name (see the module docstring).
DEFAULT_ERRNO = errno.ENOSYS

#: ``seccomp_mode`` values: deny by default, or allow by default.
SECCOMP_MODES: tuple[str, ...] = ("allowlist", "denylist")

#: Syscalls with argument conditions (rules below), never in the plain allow-list;
#: ``socketcall`` is i386's socket multiplexer, which would bypass the socket rule.
_CONDITIONAL = ("clone", "clone3", "socket", "socketpair")
_NEVER_ALLOWED = (*DENIED_SYSCALLS, "socketcall")

_overlap = set(ALLOWED_SYSCALLS) & (set(_NEVER_ALLOWED) | set(_CONDITIONAL))
if _overlap:  # an edit of the allow-list must not undo a denial
    raise RuntimeError(f"seccomp allow-list names denied or conditional syscalls: {sorted(_overlap)}")


def _add(flt, action: int, name: str, *args) -> bool:
    """Add one rule; False when this architecture (or its libseccomp) lacks ``name``."""
    try:
        flt.add_rule(action, name, *args)
    except (OSError, ValueError):
        # e.g. iopl or open on arm64, or a syscall newer than the host's libseccomp
        return False
    return True


def build_bpf(mode: str = "allowlist") -> int:
    """Return a readable fd (at offset 0) holding the compiled BPF program.

    ``mode`` is ``"allowlist"`` (deny by default) or ``"denylist"`` (allow by default).
    The caller passes it to bubblewrap (``--seccomp FD``, ``pass_fds``) and closes it
    after the launch. Raises ``ImportError``/``OSError`` when libseccomp is missing and
    ``ValueError`` for an unknown mode.
    """
    if mode not in SECCOMP_MODES:
        raise ValueError(f"Unknown seccomp mode {mode!r}: choose one of {', '.join(SECCOMP_MODES)}.")
    import pyseccomp as sc

    # Syscalls of other ABIs (i386 int 0x80, x32) get the "bad arch" action: the filter
    # only lists native syscalls, and libseccomp kills on a foreign arch by default.
    if mode == "allowlist":
        flt = sc.SyscallFilter(sc.ERRNO(DEFAULT_ERRNO))
        for name in ALLOWED_SYSCALLS:
            _add(flt, sc.ALLOW, name)
        _add(flt, sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NAMESPACE_MASK, 0))
        for name in ("socket", "socketpair"):
            _add(flt, sc.ALLOW, name, sc.Arg(0, sc.EQ, ALLOWED_SOCKET_FAMILY))
        # clone3 is not listed, so it gets the default ENOSYS (libseccomp refuses a rule
        # whose action equals the default).
    else:
        flt = sc.SyscallFilter(sc.ALLOW)
        flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for name in DENIED_SYSCALLS:
        _add(flt, sc.ERRNO(errno.EPERM), name)
    for flag in CLONE_NAMESPACE_FLAGS:
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    for name in ("socket", "socketpair"):
        flt.add_rule(sc.ERRNO(errno.EACCES), name, sc.Arg(0, sc.NE, ALLOWED_SOCKET_FAMILY))
    fd = os.memfd_create("labs-seccomp", os.MFD_CLOEXEC)
    with os.fdopen(os.dup(fd), "wb") as out:
        flt.export_bpf(out)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


#: Native architectures and the other ABIs their kernels also run (the engine resolves
#: every name for each; a name an ABI lacks is skipped there).
DOCKER_ARCH_MAP: tuple[dict, ...] = (
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
)


def _family_rules(name: str) -> list[dict]:
    return [
        {
            "names": [name],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": ALLOWED_SOCKET_FAMILY, "op": "SCMP_CMP_EQ"}],
            "comment": "local (AF_UNIX) sockets only",
        },
        {
            "names": [name],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno.EACCES,
            "args": [{"index": 0, "value": ALLOWED_SOCKET_FAMILY, "op": "SCMP_CMP_NE"}],
            "comment": "any other family: refused, and says so",
        },
    ]


def docker_profile() -> str:
    """The deny-by-default policy as a Docker seccomp profile, compact JSON text.

    A ``seccomp=<json>`` security option replaces the engine's default profile; this one
    is the same kind of policy (``defaultAction`` ERRNO, an allow-list, an ``archMap``)
    with our allow-list: everything in :data:`.seccomp_allowlist.ALLOWED_SYSCALLS`;
    ``socket``/``socketpair`` for AF_UNIX only; ``clone`` without CLONE_NEW* flags;
    ``clone3`` answered ENOSYS (glibc falls back to clone); :data:`DENIED_SYSCALLS` and
    ``socketcall`` refused explicitly with EPERM; anything else ENOSYS.
    """
    rules: list[dict] = [
        {
            "names": list(ALLOWED_SYSCALLS),
            "action": "SCMP_ACT_ALLOW",
            "comment": "the lab job allow-list (apps/labs/sandbox/seccomp_allowlist.py)",
        },
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": CLONE_NAMESPACE_MASK, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
            "comment": "processes and threads, never new namespaces",
        },
        {
            "names": ["clone3"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno.ENOSYS,
            "comment": "its flags live in memory a filter cannot read: glibc falls back to clone",
        },
        *_family_rules("socket"),
        *_family_rules("socketpair"),
        {
            "names": sorted(_NEVER_ALLOWED),
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno.EPERM,
            "comment": "never for a lab job, whatever its capabilities",
        },
    ]
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": DEFAULT_ERRNO,
        "archMap": [dict(a) for a in DOCKER_ARCH_MAP],
        "syscalls": rules,
    }
    return json.dumps(profile, separators=(",", ":"))
