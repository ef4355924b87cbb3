"""Offline verification with openbadgeslib's own verifier (not our code path), given only
what this site publishes: the DID document or the JWKS, and the status list.

A downloaded credential verifies; changing any single byte of it fails; a revoked one
reports revoked; a key rotation keeps older credentials verifiable.
"""

from __future__ import annotations

import json
import string

import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import OKPAlgorithm
from openbadgeslib.ob3 import OB3Verifier
from openbadgeslib.ob3.verifier import OB3VerificationError

from apps.credentials import keys as credential_keys

B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def issue_and_download(client, learner, job) -> str:
    client.force_login(learner)
    response = client.post("/api/v1/credentials/", {"job": str(job.pk)}, content_type="application/json")
    assert response.status_code == 201, response.content
    download = client.get(response.json()["downloads"]["jwt"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    client.logout()  # everything below is what a stranger can do
    return download.content.decode()


def did_verifier(site_fetch) -> OB3Verifier:
    """A verifier anchored to the issuer's did:web (its document fetched from this site)."""
    return OB3Verifier.for_issuer_did(issuer_did_from_site(site_fetch), download=site_fetch)


def issuer_did_from_site(site_fetch) -> str:
    return json.loads(site_fetch("https://badges.example.org/credentials/issuer.json"))["id"]


def jwks_verifier(site_fetch, token: str) -> OB3Verifier:
    """A verifier built from the JWKS key the token's kid names (PyJWT turns the JWK into a key)."""
    import jwt

    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(
        k for k in json.loads(site_fetch("https://badges.example.org/credentials/jwks.json"))["keys"] if k["kid"] == kid
    )
    public = OKPAlgorithm.from_jwk(json.dumps(jwk))
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return OB3Verifier(pubkey_pem=pem)


def test_downloaded_credential_verifies_with_the_library_and_the_published_key(client, learner, job, site_fetch):
    token = issue_and_download(client, learner, job)
    for verifier in (did_verifier(site_fetch), jwks_verifier(site_fetch, token)):
        credential = verifier.verify(token, check_status=True, download=site_fetch)
        assert credential.issuer.id == "did:web:badges.example.org"
        assert credential.achievement.name.startswith(job.lab.title)
        assert "accuracy" in credential.achievement.criteria_narrative
        values = {r.result_description.rpartition("#")[2]: r.value for r in credential.results}
        assert values["metric-accuracy"] == "0.97" and values["grade"] == "passed"
        raw = credential.raw
        assert raw["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
        assert raw["labRun"]["params"]["C"] == 2
        assert raw["labRun"]["params"]["script"]["chars"] == 500  # long text travels as a hash
        assert raw["labRun"]["artifacts"][0]["sha256"] == job.artifacts.get().sha256
        assert raw["labRun"]["evidence_sha256"] == job.evidence_sha256
        names = {i.identity_type: i.identity_hash for i in credential.identifiers}
        assert names == {"name": learner.username, "systemId": str(learner.pk)}
    assert "/.well-known/did.json" in site_fetch.fetched
    assert "/credentials/status/revocation" in site_fetch.fetched


def _variants(token: str):
    """Each position changed once: a base64url character to one whose high bit differs (so the
    decoded bytes differ even in a segment's last character), a dot to a letter."""
    for i, char in enumerate(token):
        other = B64URL[B64URL.index(char) ^ 32] if char in B64URL else "A"
        yield i, token[:i] + other + token[i + 1 :]


def test_any_changed_byte_fails_the_library_verifier(client, learner, job, site_fetch):
    token = issue_and_download(client, learner, job)
    verifier = did_verifier(site_fetch)
    verifier.verify(token)
    passed = []
    for i, changed in _variants(token):
        try:
            verifier.verify(changed)
        except (OB3VerificationError, ValueError, KeyError, TypeError):
            continue
        passed.append(i)
    assert passed == [], f"changed bytes at {passed[:5]} still verified"


def test_any_changed_byte_is_not_valid_on_our_verify_too(client, learner, job):
    """Ours also refuses the spellings plain base64 decoders let through (the unused low bits
    of a segment's last character)."""
    from apps.credentials.selectors import credential_verify

    token = issue_and_download(client, learner, job)
    assert credential_verify(token).status == "valid"
    low_bit = [token[:i] + B64URL[B64URL.index(c) ^ 1] + token[i + 1 :] for i, c in enumerate(token) if c in B64URL]
    statuses = {credential_verify(changed).status for changed in low_bit}
    assert "valid" not in statuses and "revoked" not in statuses
    # The last character of the signature, changed only in its unused bits.
    assert credential_verify(low_bit[-1]).status == "tampered"


def test_revoked_credential_reports_revoked_with_the_published_status_list(client, learner, job, site_fetch):
    token = issue_and_download(client, learner, job)
    verifier = did_verifier(site_fetch)
    verifier.verify(token, check_status=True, download=site_fetch)

    client.force_login(learner)
    credential_id = verifier.verify(token).id.removeprefix("urn:uuid:")
    response = client.post(
        f"/api/v1/credentials/{credential_id}/revoke/", {"reason": "wrong run"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    client.logout()

    with pytest.raises(OB3VerificationError, match="revocation"):
        verifier.verify(token, check_status=True, download=site_fetch)
    with pytest.raises(OB3VerificationError, match="revocation"):
        jwks_verifier(site_fetch, token).verify(token, check_status=True, download=site_fetch)
    verifier.verify(token)  # the signature itself is still genuine: only the status says revoked


def test_rotation_keeps_old_credentials_verifiable(client, learner, lab, site_fetch, settings):
    from tests.credentials.conftest import make_job

    old_token = issue_and_download(client, learner, make_job(learner, lab))
    new_key = credential_keys.rotate_generated_key()
    new_token = issue_and_download(client, learner, make_job(learner, lab))

    import jwt

    assert jwt.get_unverified_header(new_token)["kid"].endswith("#" + new_key.kid)
    assert jwt.get_unverified_header(old_token)["kid"] != jwt.get_unverified_header(new_token)["kid"]
    verifier = did_verifier(site_fetch)
    for token in (old_token, new_token):
        verifier.verify(token, check_status=True, download=site_fetch)
        jwks_verifier(site_fetch, token).verify(token)
    document = json.loads(site_fetch("https://badges.example.org/.well-known/did.json"))
    assert document["verificationMethod"][0]["id"].endswith("#" + new_key.kid)
    assert len(document["verificationMethod"]) == 2
