"""The entry point of a warm (pooled) sandbox: import first, then wait for exactly one job.

Started inside a sandbox before any job exists, as::

    python -m gpu_workers.runners.zygote <runner> [module ...]

It imports the named modules (the lab kind's ``warm_imports``, e.g. ``torch``) and the
runner's own module, writes :data:`READY` on stdout, then blocks reading one line from
stdin: ``{"runner": "<runner>", "spec": "/work/spec.json"}``. By then the worker has
written that job's inputs into ``/work``. stdin is then replaced by /dev/null and the job
runs in this process exactly as ``python -m gpu_workers.runners <runner> <spec>`` would
(:func:`gpu_workers.runners.protocol.main`, same events on stdout), after which the
process exits: a warm sandbox runs one job, never two. EOF instead of a job line means
the pool discarded this sandbox: exit 0 without running anything. No Django here.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

READY = "labs-zygote-ready"


def _import(names: list[str]) -> None:
    for name in names:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or not argv[0].isidentifier():
        print("usage: python -m gpu_workers.runners.zygote <runner> [module ...]", file=sys.stderr)
        return 2
    runner, warm = argv[0], argv[1:]
    from gpu_workers.runners import protocol

    if runner in protocol.NOT_RUNNERS:
        print(f"unknown runner {runner!r}", file=sys.stderr)
        return 2
    _import([*warm, f"gpu_workers.runners.{runner}"])
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()

    line = sys.stdin.readline()
    # Nothing more ever comes on stdin: the job (learner code included) sees /dev/null there,
    # as a cold sandbox does.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, closefd=False)  # fd 0 lives as long as the process
    if not line.strip():
        return 0
    job = json.loads(line)
    if job.get("runner") != runner:
        print(f"this sandbox was warmed for {runner!r}, not {job.get('runner')!r}", file=sys.stderr)
        return 2
    spec_path = str(job.get("spec") or protocol.DEFAULT_SPEC)
    # What `python -m gpu_workers.runners <runner> <spec>` would have in sys.argv.
    sys.argv = [str(Path(protocol.__file__).with_name("__main__.py")), runner, spec_path]
    return protocol.main([runner, spec_path])


if __name__ == "__main__":
    sys.exit(main())
