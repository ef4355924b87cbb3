"""Writes: issue a lab result's credential, revoke (withdraw) it."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, NotFound, PermissionDenied
from apps.core.validation import check_length
from apps.credentials import documents
from apps.credentials.models import Credential
from apps.credentials.selectors import credential_revocable_by, credential_visible_to

REVOKE_ANY = "credentials.revoke_credential"
INDEX_TRIES = 20


def _free_status_index() -> int:
    # A random bit, not the next one: which bits are set then says nothing about when
    # (or in what order) credentials were issued. The unique constraint settles races.
    used = Credential.objects.count()
    if used >= documents.STATUS_LIST_BITS * 3 // 4:
        raise ApplicationError("The revocation list is nearly full; credentials cannot be issued.", permanent=False)
    return secrets.randbelow(documents.STATUS_LIST_BITS)


def credential_issue(*, job: Any, user: Any) -> Credential:
    """Issue the credential of a succeeded lab job, for its owner only.

    Idempotent: a job has at most one live credential, and issuing again returns it (a
    withdrawn one may be replaced by a new one). Someone who may not see the job gets
    NotFound; one who may see it but does not own it (support) gets PermissionDenied.
    """
    from apps.labs.models import LabJob
    from apps.labs.selectors import lab_job_visible_to

    if not getattr(user, "is_authenticated", False) or not lab_job_visible_to(job, user):
        raise NotFound("There is no such lab job.")
    if job.owner_id != user.id:
        raise PermissionDenied("Only the learner who ran this job can turn it into a credential.")
    for _ in range(INDEX_TRIES):
        try:
            with transaction.atomic():
                # The job's row lock serialises two issues of the same job (double click, two tabs).
                locked = LabJob.objects.select_for_update().select_related("lab").get(pk=job.pk)
                if locked.status != LabJob.Status.SUCCEEDED:
                    raise ApplicationError("Only a run that succeeded can be issued as a credential.", field="job")
                live = Credential.objects.filter(job=locked, revoked_at__isnull=True).first()
                if live is not None:
                    return live
                credential = Credential(job=locked, subject=user, issued_at=timezone.now().replace(microsecond=0))
                credential.status_index = _free_status_index()
                payload = documents.build_credential_payload(
                    credential_id=credential.pk,
                    job=locked,
                    user=user,
                    issued_at=credential.issued_at,
                    status_index=credential.status_index,
                )
                credential.token, credential.key_id = documents.sign(payload)
                credential.save(force_insert=True)
                return credential
        except IntegrityError:
            continue  # that status bit was taken meanwhile: draw another
    raise ApplicationError("Could not reserve a revocation bit; try again.", permanent=False)


def credential_revoke(*, credential: Credential, user: Any, reason: str) -> Credential:
    """Revoke a credential: its learner (a withdrawal) or a holder of
    ``credentials.revoke_credential`` (support). Sets its bit in the published status list at
    once. Revoking a revoked credential returns it unchanged."""
    if not credential_visible_to(credential, user):
        raise NotFound("There is no such credential.")
    if not credential_revocable_by(credential, user):
        raise PermissionDenied("You may not revoke this credential.")
    reason = (reason or "").strip()
    check_length(Credential, "revoked_reason", reason, field="reason")
    if not reason:
        reason = "Withdrawn by the learner." if credential.subject_id == user.id else "Revoked by the issuer."
    now = timezone.now()
    # Conditional: a second revocation (maybe racing this one) keeps the first one's time and reason.
    Credential.objects.filter(pk=credential.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_reason=reason, revoked_by=user
    )
    credential.refresh_from_db()
    return credential
