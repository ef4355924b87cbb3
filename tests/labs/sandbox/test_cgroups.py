"""Finding 7: cgroup v2 (delegated subtree) and "no cgroups, no jobs".

This machine is cgroup v1, so the v2 code runs against a fake cgroupfs tree (plain files
laid out like a delegated v2 group); the v1 path runs for real (and in test_escape.py).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from apps.labs.sandbox import SandboxUnavailable
from apps.labs.sandbox import cgroups as cg
from apps.labs.sandbox.bubblewrap import BubblewrapBackend

pytestmark = pytest.mark.sandbox

MiB = 1024 * 1024


@pytest.fixture
def fake_v2(tmp_path, monkeypatch) -> Path:
    """A unified hierarchy where this worker lives in /worker.service (delegated)."""
    root = tmp_path / "cgroup"
    own = root / "worker.service"
    own.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    (own / "cgroup.procs").write_text("4242\n4243\n")
    monkeypatch.setattr(cg, "_read_proc_self_cgroup", lambda: "0::/worker.service\n")
    return root


def test_v2_job_group_gets_pids_memory_swap_and_cpu_limits(fake_v2):
    assert cg.cgroup_version(fake_v2) == 2
    job = cg.create_job_cgroups(fake_v2, "job-1")
    assert isinstance(job, cg.JobCgroupsV2)
    job.set_limits(max_processes=48, memory_bytes=256 * MiB, cpus=1.5)
    own = fake_v2 / "worker.service"
    group = own / cg.PARENT_GROUP / "job-1"
    assert set((own / "cgroup.subtree_control").read_text().replace("+", "").split()) == {"pids", "memory", "cpu"}
    assert set((own / cg.PARENT_GROUP / "cgroup.subtree_control").read_text().replace("+", "").split()) == {
        "pids",
        "memory",
        "cpu",
    }
    assert (group / "pids.max").read_text() == "48"
    assert (group / "memory.max").read_text() == str(256 * MiB)
    assert (group / "memory.swap.max").read_text() == "0"
    assert (group / "memory.oom.group").read_text() == "1"
    assert (group / "cpu.max").read_text() == "150000 100000"
    assert job.limits_processes and job.limits_memory
    assert job.procs_files == [group / "cgroup.procs"]  # what the launcher writes its pid into

    # What the kernel would report after the job: OOM kill, CPU time, peak memory.
    assert not job.oom_killed()
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (group / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (group / "memory.peak").write_text(str(100 * MiB))
    assert job.oom_killed()
    assert job.usage() == {"cpu_seconds": 2.5, "peak_memory_mb": 100.0}

    job.remove(timeout=0.1)
    assert not group.exists()


def test_v2_moves_the_worker_into_a_leaf_when_its_group_has_processes(fake_v2, monkeypatch):
    real_enable = cg._v2_enable
    calls = []

    def enable(group: Path, wanted: list[str]) -> None:
        calls.append(group.name)
        if len(calls) == 1:  # the kernel's "no internal processes" rule
            raise OSError(errno.EBUSY, "Device or resource busy")
        real_enable(group, wanted)

    monkeypatch.setattr(cg, "_v2_enable", enable)
    job = cg.create_job_cgroups(fake_v2, "job-2")
    assert isinstance(job, cg.JobCgroupsV2) and job.path is not None
    leaf = fake_v2 / "worker.service" / cg.WORKER_LEAF
    assert leaf.is_dir() and (leaf / "cgroup.procs").read_text() in ("4242", "4243")
    assert calls == ["worker.service", "worker.service", cg.PARENT_GROUP]


def test_v2_without_delegated_controllers_makes_the_backend_unavailable(fake_v2):
    (fake_v2 / "worker.service" / "cgroup.controllers").write_text("cpu\n")
    reason = cg.cgroups_unavailable_reason(fake_v2)
    assert reason and "pids, memory" in reason and "Delegate=yes" in reason
    with pytest.raises(SandboxUnavailable, match="Delegate=yes"):
        BubblewrapBackend(cgroup_root=str(fake_v2)).check_available()


def test_no_cgroup_hierarchy_means_unavailable_not_rlimits_only(tmp_path):
    """Before: the backend ran such jobs with rlimits only (no job-wide memory/process cap)."""
    empty = tmp_path / "not-a-cgroupfs"
    empty.mkdir()
    assert cg.cgroup_version(empty) is None
    with pytest.raises(SandboxUnavailable, match="rlimits only"):
        BubblewrapBackend(cgroup_root=str(empty)).check_available()


def test_this_hosts_v1_controllers_are_used_for_real():
    root = Path("/sys/fs/cgroup")
    if cg.cgroup_version(root) != 1:
        pytest.skip("this host is not cgroup v1; the v2 path is covered by the fake tree above")
    assert cg.cgroups_unavailable_reason(root) is None
    job = cg.create_job_cgroups(root, "test-v1-probe")
    assert isinstance(job, cg.JobCgroups)
    try:
        job.set_limits(max_processes=7, memory_bytes=64 * MiB, cpus=None)
        assert (job.dirs["pids"] / "pids.max").read_text().strip() == "7"
        assert int((job.dirs["memory"] / "memory.limit_in_bytes").read_text()) == 64 * MiB
    finally:
        job.remove(timeout=1)
