"""The syscalls a lab job may make: the allow-list behind the deny-by-default filters.

Written for this project (not copied from any engine's profile): the same kind of policy
as Docker's default profile (everything refused unless listed, per-architecture
resolution of the names), sized for what a lab job actually runs: CPython, NumPy,
PyTorch (CPU threads, DataLoader workers), Hugging Face tokenizers (Rust threads) and
the CUDA runtime, started through ``setpriv`` in the bubblewrap backend.

Each group below says why it is there. Names are the kernel's syscall names; one that
an architecture lacks (``open`` on arm64, ``arch_prctl`` outside x86) is simply skipped
when a filter is built for it. Three calls are allowed only with argument conditions and
are therefore not in these groups but in :mod:`.seccomp`: ``socket`` and ``socketpair``
(AF_UNIX only) and ``clone`` (no CLONE_NEW* flags); ``clone3`` is answered ENOSYS there
so glibc falls back to ``clone``. Nothing in :data:`.seccomp.DENIED_SYSCALLS` may appear
here (checked at import time of :mod:`.seccomp` and by the tests), and neither may
``socketcall``, i386's socket multiplexer, which would bypass the socket rule.

Deliberately not listed (a job gets ENOSYS): 32-bit-only variants (``mmap2``,
``fcntl64``, ``stat64``, ``*_time64`` ...; jobs run the image's 64-bit interpreter),
``personality``, ``ioprio_set``, ``process_madvise``, ``pkey_*``, the libaio ``io_*``
calls, ``fanotify_mark``, ``memfd_secret``, ``landlock_*``, ``seccomp`` itself, and any
syscall newer than this list.
"""

from __future__ import annotations

# Reading and writing files, directories and their metadata inside the sandbox's own
# mounts (the read-only system, the job's /work, private /tmp and /dev/shm).
FILE_IO: tuple[str, ...] = (
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "lseek",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    # FIFOs and socket files (os.mkfifo); device nodes need CAP_MKNOD, which jobs lack
    "mknod",
    "mknodat",
    "umask",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    # chown to oneself or one's own group only, for an uncapable process
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "truncate",
    "ftruncate",
    "fallocate",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "fadvise64",
    "readahead",
    "flock",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    # zero-copy between descriptors (shutil.copyfile uses sendfile / copy_file_range)
    "sendfile",
    "copy_file_range",
    "splice",
    "tee",
    # extended attributes: shutil.copy2/copytree copy them and fail on EPERM/ENOSYS
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    # file watching (watchdog, some notebook/tensorboard helpers)
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
)

# Descriptor plumbing and waiting on many descriptors (asyncio, selectors, subprocess
# pipes, the CUDA runtime's and tokenizers' event loops).
FDS_AND_POLLING: tuple[str, ...] = (
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
)

# Device and terminal control: isatty() (TCGETS), FIONREAD, and the whole CUDA driver
# interface (/dev/nvidia*). The mount namespace decides which devices exist at all.
DEVICE_CONTROL: tuple[str, ...] = ("ioctl",)

# Address space: the allocator, mapped files (NumPy memmap, safetensors), pinned host
# memory for CUDA (mlock, within RLIMIT_MEMLOCK), NUMA queries by OpenMP/oneDNN, and
# anonymous files for shared tensors (memfd).
MEMORY: tuple[str, ...] = (
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "msync",
    "mincore",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "membarrier",
    "memfd_create",
    "get_mempolicy",
    "set_mempolicy",
    "mbind",
)

# System V IPC: private to the job (bubblewrap and Docker give it its own IPC
# namespace); some BLAS/MPI-style libraries still use it.
SYSV_IPC: tuple[str, ...] = (
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
)

# Processes and threads: fork/exec for subprocess and multiprocessing, waiting for
# children, per-thread setup done by the C library. (clone is conditional, see above.)
PROCESSES: tuple[str, ...] = (
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "setpgid",
    "getpgrp",
    "getsid",
    "setsid",
    "set_tid_address",
    # x86 only: thread-local storage setup by the dynamic loader
    "arch_prctl",
    # thread names, PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS (setpriv); no-new-privs and
    # the empty capability sets make the dangerous options refuse
    "prctl",
    "getpriority",
    "setpriority",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "times",
    # process handles for one's own children (asyncio's pidfd child watcher)
    "pidfd_open",
    "pidfd_send_signal",
)

# Signals: handlers, masks, timers and delivery to one's own processes and threads.
SIGNALS: tuple[str, ...] = (
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "kill",
    "tkill",
    "tgkill",
    "pause",
    "alarm",
    "getitimer",
    "setitimer",
    "restart_syscall",
)

# Time: reading clocks, sleeping and per-process timers. Setting a clock is denied.
TIME: tuple[str, ...] = (
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "time",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
)

# Who am I, what machine is this: reads only.
IDENTITY_READS: tuple[str, ...] = (
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "capget",
    "uname",
    "sysinfo",
    "getrandom",
)

# Changing identity: setpriv runs under the filter (bubblewrap installs it before
# exec'ing setpriv) and uses these to drop to uid/gid 65534 and clear its capabilities.
# With no capabilities and no-new-privs they can only give up privileges afterwards.
IDENTITY_DROP: tuple[str, ...] = (
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
    "capset",
)

# Local sockets once created (socket/socketpair themselves are AF_UNIX-only rules):
# multiprocessing, DataLoader workers and the CUDA runtime talk over them.
SOCKET_OPERATIONS: tuple[str, ...] = (
    "bind",
    "listen",
    "connect",
    "accept",
    "accept4",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
)

# CPU placement: OpenMP, OpenBLAS and PyTorch read (and pin) thread affinity; os.cpu_count
# alternatives read it too. Real-time priorities still need CAP_SYS_NICE.
SCHEDULING: tuple[str, ...] = (
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_setparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "sched_getattr",
    "sched_setattr",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "getcpu",
)

# Thread synchronisation the C library and Rust's std are built on: futexes, robust
# mutex lists (set at every thread start) and restartable sequences (glibc >= 2.35).
SYNCHRONISATION: tuple[str, ...] = (
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "rseq",
)

#: Every group, in the order a reader meets them.
GROUPS: dict[str, tuple[str, ...]] = {
    "file I/O": FILE_IO,
    "descriptors and polling": FDS_AND_POLLING,
    "device control": DEVICE_CONTROL,
    "memory": MEMORY,
    "System V IPC": SYSV_IPC,
    "processes and threads": PROCESSES,
    "signals": SIGNALS,
    "time": TIME,
    "identity reads": IDENTITY_READS,
    "identity drop": IDENTITY_DROP,
    "local socket operations": SOCKET_OPERATIONS,
    "scheduling": SCHEDULING,
    "synchronisation": SYNCHRONISATION,
}

#: The unconditional allow-list, sorted, without duplicates.
ALLOWED_SYSCALLS: tuple[str, ...] = tuple(sorted({name for names in GROUPS.values() for name in names}))
