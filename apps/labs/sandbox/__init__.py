"""Lab sandboxes: run a lab runner isolated, stream its events, report how it ended.

The contract is in :mod:`.base` (``SandboxBackend``, ``JobSpec``, ``SandboxLimits``,
``ExitStatus``, ``get_backend``); events and their parser in :mod:`.events`; backends in
:mod:`.bubblewrap` and :mod:`.docker`. Importing this package does not need Django.
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
]
