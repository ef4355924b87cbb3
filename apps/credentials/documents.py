"""What the issuer signs and publishes, built with openbadgeslib's OB 3.0 model.

- the credential: an ``OpenBadgeCredential`` (W3C VC 2.0, VC-JWT) whose achievement is the
  lab and its targets, whose results are the run's metrics and grade, whose evidence is the
  run (settings, files by sha256, runner version, evidence hash), and whose subject is the
  learner (display name and platform id as OB 3.0 identifiers);
- the issuer's DID document (did:web), JWKS and OB 3.0 issuer profile;
- the W3C Bitstring Status List credential for revocation (signed, short-lived).

Every URL in them comes from ``CREDENTIALS_BASE_URL``; the issuer is ``did:web:<its host>``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from openbadgeslib.ob3 import (
    Achievement,
    Evidence,
    IdentityObject,
    Issuer,
    OB3Signer,
    OpenBadgeCredential,
    Result,
    ResultDescription,
    build_did_document,
    build_status_list_credential,
    status_entry,
)
from openbadgeslib.ob3.credential import OB3_CONTEXT

from apps.credentials.keys import IssuerKey, issuer_keys

STATUS_LIST_BITS = 131072  # the W3C minimum: a list this size hides who is revoked in a crowd
STATUS_PURPOSE = "revocation"
# Params longer than this (a learner's own script) go into the credential as a hash: the
# credential is meant to be shown around, the code is not.
MAX_PARAM_CHARS = 200
# The run's machine-readable record, as one JSON literal: ``@json`` needs no vocabulary of
# its own, and a JSON-LD processor keeps it intact.
LAB_RUN_CONTEXT = {"labRun": {"@id": "https://w3id.org/openbadges#labRun", "@type": "@json"}}


# --- identity and URLs -------------------------------------------------------------------


def base_url() -> str:
    return settings.CREDENTIALS_BASE_URL


def absolute(path: str) -> str:
    return base_url() + path


def issuer_did() -> str:
    # did:web of the origin (host and port, percent-encoded): resolves to /.well-known/did.json.
    return "did:web:" + quote(urlsplit(base_url()).netloc, safe="")


def method_id(key: IssuerKey) -> str:
    return f"{issuer_did()}#{key.kid}"


def status_list_url() -> str:
    return absolute(reverse("credentials:status-list"))


def verify_url(credential_id: Any) -> str:
    return absolute(reverse("credentials:verify-id", args=[credential_id]))


# --- signing -----------------------------------------------------------------------------


class KidSigner(OB3Signer):
    """The library's Ed25519 signer, naming the key by ``kid`` (a did:web verification method)
    instead of embedding it: a verifier must fetch the key from us, never trust the token's."""

    def __init__(self, key: IssuerKey) -> None:
        super().__init__(key.private_pem, algorithm="EdDSA")
        self.kid = method_id(key)

    def sign_payload(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self._load_privkey(), algorithm="EdDSA", headers={"kid": self.kid})


def issuer_profile() -> Issuer:
    return Issuer(id=issuer_did(), name=settings.CREDENTIALS_ISSUER_NAME, url=base_url())


def _param_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_PARAM_CHARS:
        return {"sha256": hashlib.sha256(value.encode()).hexdigest(), "chars": len(value)}
    return value


def runner_sha256(job) -> str:
    """The runner's file hash, as the labs evidence record computes it."""
    from apps.labs import kinds

    try:
        runner = kinds.get_kind(job.lab.kind).runner
    except Exception:  # a lab kind removed since: the evidence hash still covers it
        return ""
    path = Path(settings.BASE_DIR) / "gpu_workers" / "runners" / f"{runner}.py"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _metric_text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _target_text(target: dict[str, Any]) -> str:
    text = f"{target['metric']} {target.get('op', '>=')} {target['value']}"
    return f"{text} ({target['label']})" if target.get("label") else text


def build_credential_payload(*, credential_id: Any, job, user, issued_at: datetime, status_index: int) -> dict:
    """The JWT payload of a lab result's OpenBadgeCredential (OB 3.0 native VC-JWT)."""
    lab = job.lab
    achievement_id = absolute(reverse("labs:detail", args=[lab.slug]))
    targets = list(lab.targets or [])
    metric_names = sorted(job.metrics or {})
    descriptions = []
    for name in metric_names:
        target = next((t for t in targets if t.get("metric") == name), None)
        descriptions.append(
            ResultDescription(
                id=f"{achievement_id}#metric-{name}",
                name=name if target is None else f"{name} (target {target.get('op', '>=')} {target['value']})",
                result_type="ext:Metric",
                required_value=None if target is None else str(target["value"]),
            )
        )
    grade = job.grade or {}
    descriptions.append(
        ResultDescription(
            id=f"{achievement_id}#grade",
            name="Targets",
            result_type="Status",
            allowed_values=["passed", "missed", "ungraded"],
        )
    )
    grade_word = {True: "passed", False: "missed"}.get(grade.get("passed"), "ungraded")
    results = [
        Result(value=_metric_text(job.metrics[name]), result_description=f"{achievement_id}#metric-{name}")
        for name in metric_names
    ]
    results.append(Result(value=grade_word, status="Completed", result_description=f"{achievement_id}#grade"))

    criteria = "Run this lab on the platform's sandbox to completion"
    criteria += (": " + "; ".join(_target_text(t) for t in targets) + ".") if targets else "."
    artifacts = [{"name": a.name, "sha256": a.sha256, "size": a.size} for a in job.artifacts.order_by("name")]
    params = {k: _param_value(v) for k, v in sorted((job.params or {}).items())}
    run = {
        "job": str(job.pk),
        "lab": lab.slug,
        "params": params,
        "metrics": job.metrics or {},
        "grade": grade,
        "artifacts": artifacts,
        "runner_sha256": runner_sha256(job),
        "evidence_sha256": job.evidence_sha256,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    narrative = "\n".join(
        [
            f"Lab: {lab.title} ({lab.slug}), run {job.pk}.",
            f"Ran from {run['started_at']} to {run['finished_at']} in the platform's sandbox.",
            "Settings: " + (", ".join(f"{k}={json.dumps(v)}" for k, v in params.items()) or "defaults") + ".",
            "Metrics: " + (", ".join(f"{k}={_metric_text(v)}" for k, v in run["metrics"].items()) or "none") + ".",
            f"Targets: {grade_word}.",
            f"Runner sha256 {run['runner_sha256'] or 'unknown'}; evidence record sha256 {job.evidence_sha256}.",
        ]
    )
    evidence = [Evidence(id=verify_url(credential_id), name="Lab run", narrative=narrative, genre="Lab run")]
    evidence += [
        Evidence(
            id=f"urn:sha256:{a['sha256']}", name=a["name"][:200], genre="Artifact", description=f"{a['size']} bytes"
        )
        for a in artifacts
    ]
    identifiers = [IdentityObject(identity_hash=str(user.pk), identity_type="systemId", hashed=False)]
    display = str(user.display_name or user.username)
    identifiers.insert(0, IdentityObject(identity_hash=display, identity_type="name", hashed=False))

    credential = OpenBadgeCredential(
        id=f"urn:uuid:{credential_id}",
        issuer=issuer_profile(),
        recipient_id=None,  # identified by the identifiers above: no URL names the learner
        achievement=Achievement(
            id=achievement_id,
            name=f"{lab.title}: verified lab result",
            description=lab.summary or lab.title,
            criteria_narrative=criteria,
            tags=[lab.slug, lab.kind],
            achievement_type="Assessment",
            result_descriptions=descriptions,
        ),
        name=f"{lab.title}: verified lab result",
        issuance_date=issued_at,
        evidence=evidence,
        credential_status=[status_entry(status_list_url(), STATUS_PURPOSE, status_index)],
        identifiers=identifiers,
        results=results,
    )
    payload = credential.to_jwt_payload()
    payload["@context"] = [*OB3_CONTEXT, LAB_RUN_CONTEXT]
    payload["labRun"] = run
    return payload


def sign(payload: dict[str, Any]) -> tuple[str, str]:
    """(token, kid) signed with the current key."""
    key = issuer_keys().signing
    return KidSigner(key).sign_payload(payload), key.kid


# --- published documents -----------------------------------------------------------------


def did_document() -> dict[str, Any]:
    keys = issuer_keys().keys  # the signing key first: a token without kid falls back to it
    return build_did_document(issuer_did(), [(k.kid, k.public_jwk) for k in keys])


def jwks() -> dict[str, Any]:
    return {"keys": [{**k.public_jwk, "kid": method_id(k), "alg": "EdDSA", "use": "sig"} for k in issuer_keys().keys]}


def issuer_document() -> dict[str, Any]:
    return {"@context": OB3_CONTEXT, **issuer_profile().to_dict()}


def status_list_token(revoked_indices: list[int]) -> str:
    now = timezone.now()
    vc = build_status_list_credential(
        issuer_did(),
        status_list_url(),
        STATUS_PURPOSE,
        revoked_indices,
        size_bits=STATUS_LIST_BITS,
        issued=now,
        valid_until=now + timedelta(hours=settings.CREDENTIALS_STATUS_LIST_VALID_HOURS),
    )
    payload = {**vc, "iss": vc["issuer"], "jti": vc["id"], "nbf": int(now.timestamp())}
    return sign(payload)[0]
