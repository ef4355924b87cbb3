"""Lab sandboxes: run a lab runner isolated, stream its events, report how it ended.

The contract is in :mod:`.base` (``SandboxBackend``, ``JobSpec``, ``SandboxLimits``,
``ExitStatus``, ``get_backend``); per-job quota work dirs and their sweep in
:mod:`.workdirs`; events and their parser in :mod:`.events`; backends in
:mod:`.bubblewrap`, :mod:`.docker` and :mod:`.kubernetes`. Importing this package does not need Django.
"""

from __future__ import annotations

from .base import (
    BACKENDS,
    ExitStatus,
    JobSpec,
    SandboxBackend,
    SandboxError,
    SandboxHandle,
    SandboxLimits,
    SandboxUnavailable,
    get_backend,
    resolve_artifact_path,
)
from .events import EVENT_TYPES, EventParser, RunnerEvent
from .workdirs import work_dir_release, work_dirs_sweep

# The kubernetes backend (one Kubernetes Job per lab job) is chosen the same way.
BACKENDS.setdefault("kubernetes", "apps.labs.sandbox.kubernetes.KubernetesBackend")

__all__ = [
    "BACKENDS",
    "EVENT_TYPES",
    "EventParser",
    "ExitStatus",
    "JobSpec",
    "RunnerEvent",
    "SandboxBackend",
    "SandboxError",
    "SandboxHandle",
    "SandboxLimits",
    "SandboxUnavailable",
    "get_backend",
    "resolve_artifact_path",
    "work_dir_release",
    "work_dirs_sweep",
]
