"""Reads: a job's credential, who may see or revoke one, and verification.

``credential_verify`` checks a token the way any Open Badges 3.0 verifier would - the
library's ``OB3Verifier`` with our published key named by the token's ``kid`` - and then
reads revocation from the same data the published status list is made of.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from openbadgeslib.ob3 import OB3Verifier
from openbadgeslib.ob3.verifier import OB3VerificationError

from apps.core.errors import NotFound
from apps.credentials.keys import issuer_keys
from apps.credentials.models import Credential

REVOKE_ANY = "credentials.revoke_credential"
MAX_TOKEN_CHARS = 64 * 1024
STATUSES = ("valid", "tampered", "revoked", "unknown_key", "malformed")


@dataclass
class VerificationResult:
    status: str  # one of STATUSES
    message: str
    claims: dict[str, Any] | None = None  # the decoded payload when readable (unverified unless valid/revoked)
    credential: Credential | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return self.status == "valid"


# --- who may see what --------------------------------------------------------------------


def credential_visible_to(credential: Credential, user: Any) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return credential.subject_id == user.id or user.has_perm(REVOKE_ANY)


def credential_revocable_by(credential: Credential, user: Any) -> bool:
    return credential_visible_to(credential, user)


def credential_get(*, credential_id: Any, user: Any) -> Credential:
    """The credential if ``user`` may manage it (its learner, or support); NotFound otherwise."""
    try:
        credential = Credential.objects.select_related("job__lab", "subject").get(pk=uuid.UUID(str(credential_id)))
    except (Credential.DoesNotExist, ValueError):
        raise NotFound("There is no such credential.") from None
    if not credential_visible_to(credential, user):
        raise NotFound("There is no such credential.")
    return credential


def credential_public_get(*, credential_id: Any) -> Credential:
    """For the public verify link: anyone holding the (random) id may check it."""
    try:
        return Credential.objects.select_related("job__lab").get(pk=uuid.UUID(str(credential_id)))
    except (Credential.DoesNotExist, ValueError):
        raise NotFound("There is no such credential.") from None


def credential_for_job(job: Any) -> Credential | None:
    """The job's live (not revoked) credential, if one was issued."""
    return Credential.objects.filter(job=job, revoked_at__isnull=True).first()


def credential_list_for_user(*, user: Any) -> QuerySet[Credential]:
    return Credential.objects.filter(subject=user).select_related("job__lab").order_by("-issued_at")


def revoked_status_indices() -> list[int]:
    return list(Credential.objects.filter(revoked_at__isnull=False).values_list("status_index", flat=True))


# --- verification ------------------------------------------------------------------------


def _b64url_canonical(segment: str) -> bytes:
    """Decode a base64url segment, refusing any other spelling of the same bytes.

    Base64 leaves a few low bits of the last character unused; decoders ignore them, so
    without this check a token with its last character changed can still verify."""
    if not segment or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in segment):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(data).decode().rstrip("=") != segment:
        raise ValueError("not the canonical base64url encoding")
    return data


def _decode_json(segment: str) -> dict[str, Any]:
    value = json.loads(_b64url_canonical(segment))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def credential_verify(token: str) -> VerificationResult:
    """Check a compact VC-JWT: ``valid``, ``tampered``, ``revoked``, ``unknown_key`` or
    ``malformed``, with the decoded claims when they can be read."""
    token = (token or "").strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        return VerificationResult("malformed", f"Paste a credential (a JWT of at most {MAX_TOKEN_CHARS:,} characters).")
    parts = token.split(".")
    if len(parts) != 3:
        return VerificationResult("malformed", "This is not a signed credential (a JWT has three parts).")
    try:
        header = _decode_json(parts[0])
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return VerificationResult("tampered", "The credential's header cannot be read: it was changed or damaged.")
    try:
        claims: dict[str, Any] | None = _decode_json(parts[1])
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        claims = None
    kid = header.get("kid")
    fragment = kid.rpartition("#")[2] if isinstance(kid, str) else ""
    key = issuer_keys().get(fragment) if fragment else None
    if key is None:
        return VerificationResult(
            "unknown_key", "This credential was not signed by a key this platform publishes.", claims=claims
        )
    if claims is None:
        return VerificationResult("tampered", "The credential's content cannot be read: it was changed or damaged.")
    try:
        _b64url_canonical(parts[2])
        OB3Verifier(pubkey_pem=key.public_pem).verify(token)
    except (ValueError, binascii.Error, OB3VerificationError) as exc:
        return VerificationResult(
            "tampered", f"The signature does not match: the credential was changed ({exc}).", claims=claims
        )
    credential_id = str(claims.get("jti", "")).removeprefix("urn:uuid:")
    credential = Credential.objects.select_related("job__lab").filter(pk=_uuid_or_none(credential_id)).first()
    index = _status_index(claims)
    revoked = credential.revoked_at is not None if credential is not None else index in set(revoked_status_indices())
    if revoked:
        reason = f" Reason: {credential.revoked_reason}" if credential is not None and credential.revoked_reason else ""
        return VerificationResult(
            "revoked", "The issuer has revoked this credential." + reason, claims=claims, credential=credential
        )
    return VerificationResult(
        "valid", "Genuine: signed by this platform and not revoked.", claims=claims, credential=credential
    )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _status_index(claims: dict[str, Any]) -> int | None:
    status = claims.get("credentialStatus")
    if isinstance(status, list):
        status = status[0] if status else None
    try:
        return int(status["statusListIndex"]) if isinstance(status, dict) else None
    except (KeyError, TypeError, ValueError):
        return None
