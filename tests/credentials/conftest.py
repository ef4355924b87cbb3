"""Fixtures for the credentials tests: succeeded lab jobs made directly, and a fetcher that
answers a verifier's HTTPS requests from this site's own responses."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from apps.core.roles import SUPPORT
from apps.labs import kinds
from apps.labs.models import Artifact, Lab, LabJob
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def issuer_origin(settings) -> str:
    # did:web is https: the issuer's public origin as production would set it.
    settings.CREDENTIALS_BASE_URL = "https://badges.example.org"
    return settings.CREDENTIALS_BASE_URL


@pytest.fixture
def lab(db) -> Lab:
    from apps.labs.services import lab_catalog_sync

    lab_catalog_sync()
    return Lab.objects.get(slug="spam-classifier")


def make_job(owner, lab: Lab, *, status: str = LabJob.Status.SUCCEEDED, accuracy: float = 0.97) -> LabJob:
    metrics = {"accuracy": accuracy, "f1": 0.9} if status == LabJob.Status.SUCCEEDED else {}
    now = timezone.now()
    job = LabJob.objects.create(
        owner=owner,
        lab=lab,
        queue=lab.queue,
        params={"C": 2, "script": "x" * 500},
        status=status,
        metrics=metrics,
        grade=kinds.grade(lab.targets or [], metrics) if metrics else {},
        started_at=now - timedelta(seconds=42),
        finished_at=now,
        evidence_sha256="e" * 64,
    )
    if status == LabJob.Status.SUCCEEDED:
        body = b"weights"
        artifact = Artifact(job=job, name="model.bin", size=len(body), sha256=hashlib.sha256(body).hexdigest())
        artifact.file.save("model.bin", ContentFile(body), save=False)
        artifact.save()
    return job


@pytest.fixture
def job(learner, lab) -> LabJob:
    return make_job(learner, lab)


@pytest.fixture
def support(db):
    return make_user("sue", SUPPORT)


@pytest.fixture
def site_fetch(client, settings):
    """A verifier's ``download``: the HTTPS URL it asks for, answered by this site (the test
    client) - only for the issuer's own host, as DNS + TLS would route it."""
    host = urlsplit(settings.CREDENTIALS_BASE_URL).netloc
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc == host, url
        fetched.append(parts.path)
        response = client.get(parts.path)
        assert response.status_code == 200, (url, response.status_code)
        return response.content

    fetch.fetched = fetched
    return fetch
