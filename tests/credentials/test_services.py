"""The contract other apps call: credential_issue / credential_revoke / credential_for_job /
credential_verify - who may do what, idempotence, and every verification status."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import jwt
import pytest
from django.conf import settings as django_settings

from apps.core.errors import ApplicationError, NotFound, PermissionDenied
from apps.credentials import documents
from apps.credentials.keys import issuer_keys, key_file, new_private_pem, parse_key_bundle
from apps.credentials.selectors import credential_for_job, credential_verify
from apps.credentials.services import credential_issue, credential_revoke
from apps.labs.models import LabJob
from tests.credentials.conftest import make_job


def test_issue_is_for_the_owner_of_a_succeeded_job_only(learner, other_learner, support, author, lab, job):
    for stranger in (other_learner, author):
        with pytest.raises(NotFound):
            credential_issue(job=job, user=stranger)
    with pytest.raises(PermissionDenied):  # support may see the job, not take its credential
        credential_issue(job=job, user=support)
    failed = make_job(learner, lab, status=LabJob.Status.FAILED)
    with pytest.raises(ApplicationError) as err:
        credential_issue(job=failed, user=learner)
    assert err.value.field == "job"
    assert credential_for_job(job) is None


def test_issue_is_idempotent_and_reissue_after_withdrawal_gets_a_new_bit(learner, job):
    first = credential_issue(job=job, user=learner)
    assert credential_issue(job=job, user=learner).pk == first.pk
    assert credential_for_job(job).pk == first.pk
    header = jwt.get_unverified_header(first.token)
    assert header["alg"] == "EdDSA" and header["kid"] == f"did:web:badges.example.org#{first.key_id}"
    assert "jwk" not in header  # the key is fetched from the issuer, never taken from the token

    credential_revoke(credential=first, user=learner, reason="")
    assert first.revoked_reason == "Withdrawn by the learner."
    assert credential_for_job(job) is None
    second = credential_issue(job=job, user=learner)
    assert second.pk != first.pk and second.status_index != first.status_index


def test_revoke_owner_or_support_only(learner, other_learner, hiring_manager, author, support, job):
    credential = credential_issue(job=job, user=learner)
    for stranger in (other_learner, hiring_manager, author):  # author is staff: still nothing
        with pytest.raises(NotFound):
            credential_revoke(credential=credential, user=stranger, reason="no")
    with pytest.raises(ApplicationError) as err:
        credential_revoke(credential=credential, user=support, reason="x" * 501)
    assert err.value.field == "reason"
    revoked = credential_revoke(credential=credential, user=support, reason="Ran on a broken runner")
    assert revoked.revoked_at is not None and revoked.revoked_by == support
    # Revoking again keeps the first revocation.
    again = credential_revoke(credential=credential, user=learner, reason="later")
    assert again.revoked_reason == "Ran on a broken runner" and again.revoked_at == revoked.revoked_at


def test_verify_statuses(learner, job):
    credential = credential_issue(job=job, user=learner)
    assert credential_verify(credential.token).status == "valid"
    assert credential_verify(credential.token).claims["labRun"]["job"] == str(job.pk)

    header, payload, signature = credential.token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["labRun"]["metrics"]["accuracy"] = 0.999
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    forged = credential_verify(f"{header}.{forged_payload}.{signature}")
    assert forged.status == "tampered" and forged.claims["labRun"]["metrics"]["accuracy"] == 0.999

    # Signed with someone else's key, even claiming our kid and issuer: not ours.
    stranger = parse_key_bundle(new_private_pem(), source="test").signing
    other_kid = jwt.encode(claims, stranger.private_pem, algorithm="EdDSA", headers={"kid": "did:web:evil#k"})
    assert credential_verify(other_kid).status == "unknown_key"
    our_kid = jwt.encode(
        claims,
        stranger.private_pem,
        algorithm="EdDSA",
        headers={"kid": f"did:web:badges.example.org#{credential.key_id}"},
    )
    assert credential_verify(our_kid).status == "tampered"

    for junk in ("", "hello", "a.b", "a.b.c.d", "x" * 70_000):
        assert credential_verify(junk).status == "malformed"

    credential_revoke(credential=credential, user=learner, reason="mistake")
    result = credential_verify(credential.token)
    assert result.status == "revoked" and "mistake" in result.message


def test_status_list_sets_exactly_the_revoked_bits(client, learner, lab):
    from openbadgeslib.ob3 import decode_encoded_list, set_indices

    credentials = [credential_issue(job=make_job(learner, lab), user=learner) for _ in range(3)]
    credential_revoke(credential=credentials[1], user=learner, reason="")
    token = client.get("/credentials/status/revocation").content.decode()
    body = json.loads(jwt.utils.base64url_decode(token.split(".")[1]))
    assert body["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert body["issuer"] == documents.issuer_did() and body["validUntil"] > body["validFrom"]
    bits = set_indices(decode_encoded_list(body["credentialSubject"]["encodedList"]))
    assert bits == {credentials[1].status_index}


def test_generated_key_lives_in_the_data_dir_and_is_private(db):
    issuer_keys()
    path = key_file()
    data_dir = Path(os.environ["PLATFORM_DATA_DIR"]).resolve()
    assert path.resolve().is_relative_to(data_dir)
    assert Path(django_settings.CREDENTIALS_KEY_DIR).resolve().is_relative_to(data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_keys_from_settings_with_a_retired_public_key(settings, learner, job):
    old = parse_key_bundle(new_private_pem(), source="test").signing
    new_pem = new_private_pem()
    settings.CREDENTIALS_SIGNING_KEYS = new_pem + "\n" + old.public_pem.decode()
    keys = issuer_keys()
    assert keys.signing.private_pem is not None and keys.keys[1].kid == old.kid
    credential = credential_issue(job=job, user=learner)
    assert credential.key_id == keys.signing.kid
    assert [k["kid"].rpartition("#")[2] for k in documents.jwks()["keys"]] == [keys.signing.kid, old.kid]
    settings.CREDENTIALS_SIGNING_KEYS = old.public_pem.decode()  # no private key first: refused
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        issuer_keys()
