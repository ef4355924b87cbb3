"""Per-job work directories with a disk quota, their release, and the sweep of leftovers.

Each job's work dir is its own tmpfs mount of ``disk_mb`` (``size=``, plus an inode cap),
so a job that writes too much gets ENOSPC inside its own filesystem and nothing reaches
the host disk. tmpfs lives in RAM (and swap): its pages are charged to the memory cgroup
of the process that writes them, i.e. to the job, so what a job keeps in its work dir
also counts against its ``memory_mb``. Keep ``disk_mb`` at or below ``memory_mb``.

Release is ``umount`` (O(1) whatever the job left in there, however deep) and then an
``rmdir`` of the empty mount point. A directory that is not a mount (an older layout, a
crash between mkdir and mount) is removed with ``rm -rf --one-file-system``, which walks
the tree with file descriptors (fts) and so cannot hit Python's recursion limit or
PATH_MAX on a 3,000-deep chain the way ``shutil.rmtree`` can.

Mounting needs CAP_SYS_ADMIN (a root worker). Without it the backends report themselves
unavailable (:func:`quota_unavailable_reason`): a job never runs without a disk bound.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
MS_NOSUID = 0x2
MS_NODEV = 0x4
MNT_DETACH = 0x2
MS_BIND = 0x1000
#: A tmpfs inode costs ~1 KB of kernel memory that ``size=`` does not count: cap the file
#: count too (a million empty files would otherwise cost ~1 GB of RAM).
INODES_PER_MB = 256

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

# Job work dirs are named by job id (a UUID or an integer pk); anything else under the
# work root is not ours to sweep.
_JOB_DIR = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class WorkDirError(OSError):
    """The quota filesystem could not be mounted (or released)."""


def is_mount(path: Path) -> bool:
    """Whether ``path`` is a mount point (without following a symlink the job made)."""
    try:
        return os.path.ismount(path) and not path.is_symlink()
    except OSError:
        return False


def work_dir_mount(path: Path, *, disk_mb: int, uid: int, gid: int) -> None:
    """Make ``path`` an empty tmpfs of ``disk_mb`` MB owned by ``uid:gid`` (mode 0700).

    Whatever was at ``path`` before (a previous attempt's files or mount) is released
    first. Raises :class:`WorkDirError` when the mount is refused (no CAP_SYS_ADMIN).
    """
    work_dir_release(path)
    path.mkdir(parents=True, exist_ok=False)
    size = max(1, int(disk_mb)) * MiB
    inodes = max(1024, int(disk_mb) * INODES_PER_MB)
    data = f"size={size},nr_inodes={inodes},mode=0700,uid={int(uid)},gid={int(gid)}"
    if _libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV, data.encode()) != 0:
        err = ctypes.get_errno()
        with contextlib.suppress(OSError):
            path.rmdir()
        raise WorkDirError(err, f"cannot mount the job's {disk_mb} MB work dir at {path}: {os.strerror(err)}")


def work_dir_rebind(src: Path, dst: Path) -> None:
    """Give the quota filesystem mounted at ``src`` the path ``dst`` (and drop ``src``).

    For warm sandboxes: their work dir is mounted under the pool's own folder before any job
    exists; when a job takes one, the same filesystem (the one the sandbox sees as /work)
    becomes that job's work dir, so artifacts, the quota check, release and the sweep find
    it where a cold job's would be. ``dst`` must not exist. A bind mount, then the original
    mount is unmounted: the filesystem lives on at ``dst`` (and inside the sandbox).
    """
    if not is_mount(src):
        raise WorkDirError(errno.EINVAL, f"{src} is not a work dir mount")
    dst.mkdir(parents=True, exist_ok=False)
    if _libc.mount(os.fsencode(src), os.fsencode(dst), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        with contextlib.suppress(OSError):
            dst.rmdir()
        raise WorkDirError(err, f"cannot bind {src} at {dst}: {os.strerror(err)}")
    work_dir_release(src)


def work_dir_release(path: Path) -> None:
    """Unmount and remove a job's work dir; a no-op if it does not exist.

    Never raises for a tree the job built (depth, odd names, read-only modes); raises
    :class:`WorkDirError` only if something is left behind, with what and why.
    """
    # Every mount at or below the path, deepest first (stacked mounts appear once each):
    # a crashed attempt may have mounted twice, a caller may have nested job dirs.
    for target in _mounts_under(path):
        if _libc.umount2(os.fsencode(target), 0) != 0:
            err = ctypes.get_errno()
            if err == errno.EBUSY:
                # Something still has a file open in there (a process being killed):
                # detach now; the kernel frees the tmpfs when the last user goes.
                _libc.umount2(os.fsencode(target), MNT_DETACH)
            elif err not in (errno.EINVAL, errno.ENOENT):
                raise WorkDirError(err, f"cannot unmount {target}: {os.strerror(err)}")
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    try:
        path.rmdir()  # the usual case: an empty mount point
        return
    except OSError:
        pass
    result = subprocess.run(  # a fixed argv, no shell
        ["/bin/rm", "-rf", "--one-file-system", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if os.path.lexists(path):
        raise WorkDirError(errno.ENOTEMPTY, f"cannot remove {path}: {result.stderr.strip() or 'unknown error'}")


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo), deepest first."""
    base = os.path.abspath(path)
    found: list[str] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return [base] if is_mount(path) else []
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        # Spaces, tabs, newlines and backslashes in mount points are octal-escaped.
        target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if target == base or target.startswith(base.rstrip("/") + "/"):
            found.append(target)
    found.reverse()  # later mounts (stacked on top, or nested) first
    return sorted(found, key=lambda t: -t.count("/"))


def work_dir_full(path: Path, *, slack_bytes: int = 64 * 1024) -> bool:
    """Whether the job's quota filesystem is (nearly) out of space or inodes."""
    if not is_mount(path):
        return False
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    free = st.f_bavail * st.f_frsize
    return free <= slack_bytes or (st.f_files > 0 and st.f_favail == 0)


def work_dirs_sweep(root: Path, keep: set[str], *, min_age: float = 120.0) -> int:
    """Unmount and remove job work dirs under ``root`` whose job id is not in ``keep``.

    For work dirs left by a crashed worker (kill -9 between mount and release; after a
    reboot the mounts are gone but the empty dirs remain). ``keep`` holds the
    ids of jobs that may still be running on this host; ``min_age`` (seconds since the
    dir was created or its top level changed) spares a job that was claimed after ``keep`` was read.
    Returns how many were removed; one that cannot be removed is skipped (the next sweep
    tries again).
    """
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.name in keep or not _JOB_DIR.match(entry.name):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            if now - st.st_mtime < min_age:
                continue
            work_dir_release(Path(entry.path))
        except OSError:
            continue
        removed += 1
    return removed


_quota_checked: dict[str, str | None] = {}


def quota_unavailable_reason(probe_root: str | None = None) -> str | None:
    """Why per-job quota mounts cannot be made here (None when they can). Cached."""
    key = probe_root or ""
    if key in _quota_checked:
        return _quota_checked[key]
    reason: str | None = None
    with tempfile.TemporaryDirectory(prefix="labs-quota-probe-", dir=probe_root) as tmp:
        target = Path(tmp) / "work"
        try:
            work_dir_mount(target, disk_mb=1, uid=os.getuid(), gid=os.getgid())
        except OSError as exc:
            reason = (
                f"the per-job disk quota needs a tmpfs mount per job and this worker cannot mount one "
                f"({exc.strerror or exc}). Run the worker as root or with CAP_SYS_ADMIN "
                "(e.g. a systemd unit with AmbientCapabilities=CAP_SYS_ADMIN), or use the docker backend "
                "from a worker that has it."
            )
        finally:
            with contextlib.suppress(OSError):
                work_dir_release(target)
    if reason is None:
        _quota_checked[key] = None  # only success is cached: the host may be fixed
    return reason
