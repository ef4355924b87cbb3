"""What a finished job leaves behind: its files (artifacts) and its evidence hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction

from apps.labs import kinds
from apps.labs.files import sniff_image_type
from apps.labs.models import Artifact, LabJob
from apps.labs.sandbox import SandboxError, resolve_artifact_path
from apps.labs.selectors import lab_files_stored_bytes


def artifacts_store(job: LabJob, announced: Sequence[dict[str, Any]], work_dir: Path) -> list[str]:
    """Copy the files the runner announced into storage, hashing them ourselves.

    The runner is untrusted: paths are resolved inside the work dir (no symlinks out),
    sizes and counts are capped, and its own sha256 claim is ignored.
    """
    notes: list[str] = []
    limit = settings.LABS_MAX_ARTIFACT_MB * 1024 * 1024
    storage_limit = settings.LABS_MAX_STORED_MB_PER_USER * 1024 * 1024
    # An earlier attempt's files of this job are replaced below, so they do not count.
    used = lab_files_stored_bytes(job.owner_id, exclude_job_id=job.pk)
    seen: set[str] = set()
    for payload in announced:
        name = str(payload.get("path") or payload.get("name") or "")
        if not name or name in seen:
            continue
        if len(seen) >= settings.LABS_MAX_ARTIFACTS_PER_JOB:
            notes.append(f"Only the first {settings.LABS_MAX_ARTIFACTS_PER_JOB} files were kept.")
            break
        seen.add(name)
        try:
            path = resolve_artifact_path(work_dir, name)
        except SandboxError as exc:
            notes.append(f"File not kept: {exc.message}")
            continue
        size = path.stat().st_size
        if size > limit:
            notes.append(
                f"File {name} not kept: {size // (1024 * 1024)} MB is over the "
                f"{settings.LABS_MAX_ARTIFACT_MB} MB limit."
            )
            continue
        if used + size > storage_limit:
            notes.append(
                f"File {name} not kept: your lab runs already keep {used // (1024 * 1024)} MB of files and "
                f"the limit is {settings.LABS_MAX_STORED_MB_PER_USER} MB. Delete the files of runs you no "
                "longer need (on each run's page) to make room."
            )
            continue
        used += size
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            image_type = sniff_image_type(fh.read(16)) or ""  # from the bytes, never the name
            fh.seek(0)
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        Artifact.objects.filter(job=job, name=name).delete()  # from an earlier attempt
        artifact = Artifact(job=job, name=name[:255], kind=str(payload.get("kind", ""))[:64], size=size,
                            sha256=digest.hexdigest(), image_type=image_type)
        with path.open("rb") as fh:
            artifact.file.save(PurePosixPath(name).name, File(fh), save=False)
        artifact.save()
    return notes


def artifacts_delete_files(job: LabJob) -> tuple[int, int]:
    """Delete the stored files of ``job``, keeping each file's record (name, size, sha256), so the
    run's evidence hash can still be recomputed. Returns (files, bytes) freed.

    The rows are emptied in the caller's transaction; the files leave storage only once it has
    committed, so a rollback never leaves a record pointing at a missing file."""
    stored = list(job.artifacts.exclude(file="").values_list("pk", "file", "size"))
    if not stored:
        return 0, 0
    Artifact.objects.filter(pk__in=[pk for pk, _name, _size in stored]).update(file="")
    storage = Artifact._meta.get_field("file").storage
    names = [name for _pk, name, _size in stored]
    transaction.on_commit(lambda: [storage.delete(name) for name in names])
    return len(stored), sum(size for _pk, _name, size in stored)


def evidence_sha256(job: LabJob) -> str:
    """A hash over what was run and what came out; anyone holding the record can recompute it."""
    runner_file = kinds.get_kind(job.lab.kind).runner_file()
    runner_version = hashlib.sha256(runner_file.read_bytes()).hexdigest() if runner_file else ""
    record = {
        "job": str(job.pk),
        "lab": job.lab.slug,
        "params": job.params,
        "metrics": job.metrics,
        "artifacts": sorted((a.name, a.sha256) for a in job.artifacts.all()),
        "runner_sha256": runner_version,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
