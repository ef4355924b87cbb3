"""The API and pages: who may do what (anonymous, learner owner/other, hiring manager, author,
staff, support), downloads as attachments, the verify page with a pasted token or a baked PNG,
and the panel on the lab job page."""

from __future__ import annotations

import json

import pytest
from openbadgeslib.ob3 import OB3Verifier

from apps.credentials.services import credential_issue


def as_user(client, user):
    client.logout()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def people(learner, other_learner, hiring_manager, author, staff, support):
    return {
        "anonymous": None,
        "other": other_learner,
        "hiring": hiring_manager,
        "author": author,
        "staff": staff,
        "support": support,
        "owner": learner,
    }


def test_issue_api_permissions_and_idempotence(client, people, job):
    body = {"job": str(job.pk)}
    expected = {"anonymous": 401, "other": 404, "hiring": 404, "author": 404, "staff": 403, "support": 403}
    for who, code in expected.items():
        response = as_user(client, people[who]).post("/api/v1/credentials/", body, content_type="application/json")
        assert response.status_code == code, (who, response.content)
    owner = as_user(client, people["owner"])
    first = owner.post("/api/v1/credentials/", body, content_type="application/json")
    again = owner.post("/api/v1/credentials/", body, content_type="application/json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and first.json()["state"] == "live"
    bad = owner.post("/api/v1/credentials/", {"job": "nope"}, content_type="application/json")
    assert bad.status_code == 400 and "job" in bad.json()


def test_get_and_revoke_api_permissions(client, people, learner, job):
    credential = credential_issue(job=job, user=learner)
    url = f"/api/v1/credentials/{credential.pk}/"
    for who, code in {
        "anonymous": 401,
        "other": 404,
        "hiring": 404,
        "author": 404,
        "owner": 200,
        "support": 200,
        "staff": 200,
    }.items():
        assert as_user(client, people[who]).get(url).status_code == code, who
    for who, code in {"anonymous": 401, "other": 404, "hiring": 404, "author": 404}.items():
        response = as_user(client, people[who]).post(url + "revoke/", {}, content_type="application/json")
        assert response.status_code == code, who
    too_long = as_user(client, people["owner"]).post(
        url + "revoke/", {"reason": "x" * 501}, content_type="application/json"
    )
    assert too_long.status_code == 400 and "reason" in too_long.json()
    done = as_user(client, people["support"]).post(
        url + "revoke/", {"reason": "cheated"}, content_type="application/json"
    )
    assert done.status_code == 200 and done.json()["state"] == "revoked"


def test_verify_api_is_public(client, learner, job):
    credential = credential_issue(job=job, user=learner)
    response = client.post(
        "/api/v1/credentials/verify/", {"credential": credential.token}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "valid" and response.json()["credential_id"] == str(credential.pk)
    tampered = credential.token[:-5] + ("A" if credential.token[-5] != "A" else "B") + credential.token[-4:]
    assert (
        client.post("/api/v1/credentials/verify/", {"credential": tampered}, content_type="application/json").json()[
            "status"
        ]
        == "tampered"
    )
    assert client.post("/api/v1/credentials/verify/", {}, content_type="application/json").status_code == 400


def test_downloads_are_owner_only_attachments(client, people, learner, job):
    credential = credential_issue(job=job, user=learner)
    base = f"/credentials/{credential.pk}/credential."
    for who in ("other", "hiring", "author"):
        assert as_user(client, people[who]).get(base + "jwt").status_code == 404, who
    assert as_user(client, None).get(base + "jwt").status_code == 302  # to the login page
    owner = as_user(client, learner)
    jwt_file = owner.get(base + "jwt")
    assert jwt_file.content.decode() == credential.token
    envelope = json.loads(owner.get(base + "json").content)
    assert envelope["type"] == "EnvelopedVerifiableCredential"
    assert envelope["id"] == "data:application/vc+jwt," + credential.token
    png = owner.get(base + "png")
    assert png["Content-Type"] == "image/png"
    assert OB3Verifier.extract_token_from_png(png.content) == credential.token
    for response in (jwt_file, png):
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"


def test_verify_page_paste_upload_and_link(client, learner, job):
    credential = credential_issue(job=job, user=learner)
    assert client.get("/credentials/").status_code == 200
    page = client.post("/credentials/", {"credential": credential.token})
    assert page.status_code == 200 and "Valid" in page.content.decode()
    assert "0.97" in page.content.decode()

    as_user(client, learner)
    png = client.get(f"/credentials/{credential.pk}/credential.png").content
    client.logout()
    from django.core.files.uploadedfile import SimpleUploadedFile

    uploaded = client.post("/credentials/", {"file": SimpleUploadedFile("badge.png", png, "image/png")})
    assert "Valid" in uploaded.content.decode()
    # A changed token baked back into a well-formed image: tampered.
    from apps.credentials.files import baked_png

    changed = credential.token[:-30] + ("A" if credential.token[-30] != "A" else "B") + credential.token[-29:]
    rebaked = baked_png(changed, title="Spam classifier")
    assert (
        "Tampered"
        in client.post(
            "/credentials/", {"file": SimpleUploadedFile("badge.png", rebaked, "image/png")}
        ).content.decode()
    )
    # Bytes changed in place break the chunk's checksum: refused as carrying no credential.
    broken = png.replace(credential.token[-20:].encode(), b"A" * 20)
    refused = client.post("/credentials/", {"file": SimpleUploadedFile("badge.png", broken, "image/png")})
    assert refused.status_code == 400 and "carries no Open Badges 3.0 credential" in refused.content.decode()
    envelope = json.dumps({"id": "data:application/vc+jwt," + credential.token})
    assert "Valid" in client.post("/credentials/", {"credential": envelope}).content.decode()
    empty = client.post("/credentials/", {})
    assert empty.status_code == 400 and "Paste a credential" in empty.content.decode()

    link = client.get(f"/credentials/verify/{credential.pk}/")
    assert link.status_code == 200 and "Valid" in link.content.decode()
    assert client.get("/credentials/verify/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_job_page_panel_issue_and_withdraw(client, learner, other_learner, job):
    as_user(client, learner)
    detail = client.get(f"/labs/jobs/{job.pk}/").content.decode()
    assert f'hx-get="/credentials/jobs/{job.pk}/"' in detail
    panel = client.get(f"/credentials/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Issue credential" in panel
    issued = client.post(f"/credentials/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Badge (PNG)" in issued and "Withdraw" in issued
    credential = job.credentials.get()
    confirm = client.get(f"/credentials/{credential.pk}/withdraw/")
    assert "Yes, withdraw it" in confirm.content.decode()
    done = client.post(f"/credentials/{credential.pk}/withdraw/", {"reason": "not my best"})
    assert done.status_code == 302
    credential.refresh_from_db()
    assert credential.revoked_reason == "not my best"
    assert "Revoked" in client.get(f"/credentials/verify/{credential.pk}/").content.decode()

    as_user(client, other_learner)
    assert client.get(f"/credentials/jobs/{job.pk}/").status_code == 404
    assert client.post(f"/credentials/jobs/{job.pk}/").status_code == 404
    assert f"/credentials/jobs/{job.pk}/" not in client.get(f"/labs/jobs/{job.pk}/").content.decode()


def test_published_documents(client, db):
    did = client.get("/.well-known/did.json")
    assert did["Content-Type"] == "application/did+json"
    document = did.json()
    assert document["id"] == "did:web:badges.example.org"
    assert document["assertionMethod"] == [m["id"] for m in document["verificationMethod"]]
    assert all("d" not in m["publicKeyJwk"] for m in document["verificationMethod"])
    jwks = client.get("/credentials/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [m["id"] for m in document["verificationMethod"]]
    assert all("d" not in k for k in jwks["keys"])
    issuer = client.get("/credentials/issuer.json").json()
    assert issuer["id"] == document["id"] and issuer["type"] == ["Profile"]
    assert client.get("/credentials/status/revocation")["Content-Type"] == "application/vc+jwt"
