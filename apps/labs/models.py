"""Labs: the catalogue (Lab), one run of a lab (LabJob), its event stream and its files.

A Lab row is synced from the kinds registry (``apps/labs/kinds/``) by ``load_content``;
admins may tune limits or targets afterwards. A LabJob moves
``queued -> running -> succeeded | failed | cancelled | timed_out`` and never leaves a
final state; every move is a conditional UPDATE in ``services.py``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel
from apps.labs.storage import private_storage


class Queue(models.TextChoices):
    CPU = "cpu", "CPU"
    GPU = "gpu", "GPU"


class Lab(TimeStampedModel):
    slug = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=64, help_text="Registry entry in apps/labs/kinds/ that runs this lab.")
    title = models.CharField(max_length=120)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    # A list (not a dict) so the launch form keeps its order: jsonb does not keep key order.
    param_schema = models.JSONField(default=list, blank=True)
    defaults = models.JSONField(default=dict, blank=True)
    limits = models.JSONField(default=dict, blank=True, help_text="SandboxLimits fields, e.g. wall_seconds.")
    targets = models.JSONField(
        default=list, blank=True, help_text='[{"metric": "accuracy", "op": ">=", "value": 0.95}]'
    )
    queue = models.CharField(max_length=8, choices=Queue.choices, default=Queue.CPU)
    estimated_minutes = models.FloatField(default=1.0)
    milestone_slug = models.SlugField(max_length=120, blank=True, help_text="curriculum MilestoneProject slug")
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "title"]

    def __str__(self) -> str:
        return self.title


class LabJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        TIMED_OUT = "timed_out", "Timed out"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.TIMED_OUT)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_jobs")
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="jobs")
    params = models.JSONField(default=dict)
    queue = models.CharField(max_length=8, choices=Queue.choices, default=Queue.CPU)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    reason = models.TextField(blank=True, help_text="Why the job ended, in words a learner can act on.")
    exit_reason = models.CharField(max_length=32, blank=True, help_text="The sandbox's ExitStatus.reason.")
    exit_code = models.IntegerField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    # Set when the Celery message is sent; a queued job without it waits for its owner's
    # earlier jobs (fair dispatch).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims so far; the current claim's token.")
    cancel_requested = models.BooleanField(default=False)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sandbox_backend = models.CharField(max_length=64, blank=True)
    # Quota: minutes charged against the day of queued_at (estimate, then actual).
    charged_minutes = models.FloatField(default=0.0)
    cpu_seconds = models.FloatField(null=True, blank=True)
    peak_memory_mb = models.FloatField(null=True, blank=True)
    progress = models.FloatField(null=True, blank=True, help_text="0..1 from the runner's progress events.")
    progress_message = models.CharField(max_length=200, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Last value per metric.")
    result = models.JSONField(default=dict, blank=True, help_text="The runner's result payload (minus metrics).")
    grade = models.JSONField(default=dict, blank=True)
    last_event_seq = models.PositiveIntegerField(default=0)
    evidence_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["owner", "-queued_at"], name="labjob_owner_recent"),
            models.Index(fields=["status", "queue", "queued_at"], name="labjob_status_queue"),
            models.Index(fields=["status", "heartbeat_at"], name="labjob_status_heartbeat"),
        ]
        # Seeing or stopping someone else's job is a grant (a support role), never implied by
        # is_staff: authors are staff for the admin and must not read learners' code.
        permissions = [
            ("view_any_labjob", "Can see any learner's lab jobs, their code and events"),
            ("cancel_any_labjob", "Can cancel any learner's lab job"),
            # Launching is a grant too: a run costs sandbox time, and a hiring manager's
            # account exists to browse portfolios, not to run code.
            ("run_labs", "Can launch lab runs (charged to their own quota)"),
        ]

    def __str__(self) -> str:
        return f"{self.lab_id}:{self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        from django.utils import timezone

        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())


class LabJobEvent(models.Model):
    """One event of a job, numbered by the worker (1, 2, ... across attempts)."""

    job = models.ForeignKey(LabJob, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=16)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "seq"]
        # The unique constraint's index is the (job, seq) index replay reads use.
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="labjobevent_job_seq_unique")]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq} {self.type}"


def artifact_upload_to(instance: Artifact, filename: str) -> str:
    return f"labs/artifacts/{instance.job_id}/{filename}"


class Artifact(models.Model):
    job = models.ForeignKey(LabJob, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=255, help_text="Path the runner reported, relative to its work dir.")
    kind = models.CharField(max_length=64, blank=True)
    # Private: no URL maps these files (a learner's HTML must not run on the site's origin).
    file = models.FileField(upload_to=artifact_upload_to, storage=private_storage, max_length=500)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    image_type = models.CharField(
        max_length=16, blank=True, help_text="image/png, jpeg, gif or webp, checked from the bytes; empty otherwise."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="artifact_job_name_unique")]

    def __str__(self) -> str:
        return self.name
