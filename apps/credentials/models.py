"""Credentials: a lab result issued as a signed Open Badges 3.0 credential (VC-JWT).

The token is the credential; the row remembers who it is for, which key signed it and its
bit in the published revocation list. Rows outlive their job and their learner (``SET_NULL``)
so a bit once handed out is never reused and a revocation is never silently undone.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Credential(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey("labs.LabJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="credentials")
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="credentials"
    )
    token = models.TextField(help_text="The signed credential (compact JWT).")
    key_id = models.CharField(max_length=200, help_text="The signing key's id (the JWT kid).")
    status_index = models.PositiveIntegerField(unique=True, help_text="Its bit in the revocation status list.")
    issued_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=500, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            # One live credential per job: issuing again returns it; after a withdrawal a new one may be issued.
            models.UniqueConstraint(
                fields=["job"], condition=Q(revoked_at__isnull=True), name="credential_one_live_per_job"
            ),
        ]
        # Revoking someone else's credential is a grant (the support role), never implied by is_staff.
        permissions = [("revoke_credential", "Can revoke any learner's credential")]

    def __str__(self) -> str:
        return f"credential {self.pk} ({'revoked' if self.revoked_at else 'live'})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
