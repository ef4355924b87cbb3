"""Fixtures for the portfolios tests: succeeded lab runs made directly (no sandbox), a
published portfolio with one verified result, and API clients per person."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from apps.labs.models import Artifact, LabJob
from apps.portfolios import services
from tests.labs.conftest import labs  # noqa: F401  (the lab catalogue fixture)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def make_job(user, lab, *, status="succeeded", metrics=None, params=None) -> LabJob:
    finished = timezone.now().replace(microsecond=0)
    return LabJob.objects.create(
        owner=user, lab=lab, queue=lab.queue, status=status, params=params or {"C": 2.0},
        metrics=metrics if metrics is not None else {"accuracy": 0.97, "f1": 0.93},
        grade={"passed": True, "targets": [{"metric": "accuracy", "op": ">=", "value": 0.95, "actual": 0.97,
                                            "passed": True}]},
        started_at=finished - dt.timedelta(seconds=42), finished_at=finished, evidence_sha256="ab" * 32,
    )


def add_artifacts(job: LabJob) -> tuple[Artifact, Artifact]:
    plot = Artifact.objects.create(job=job, name="confusion.png", size=len(PNG), sha256="1" * 64,
                                   image_type="image/png", file=ContentFile(PNG, name="confusion.png"))
    page = Artifact.objects.create(job=job, name="report.html", size=25, sha256="2" * 64,
                                   file=ContentFile(b"<script>alert(1)</script>", name="report.html"))
    return plot, page


@pytest.fixture
def spam_job(labs, learner) -> LabJob:  # noqa: F811
    return make_job(learner, labs["spam-classifier"])


def published_portfolio(learner, job):
    """Lena's portfolio, published, one project (skills pytorch, rag) with `job` attached."""
    p = services.portfolio_get_or_create(user=learner)
    services.portfolio_update(portfolio=p, user=learner, headline="Spam hunter", specialization="ml engineer",
                              bio="I *like* **evals**.", links=[{"label": "GitHub", "url": "https://github.com/lena"}])
    project = services.project_create(portfolio=p, user=learner, title="Spam filter", summary="TF-IDF + LR",
                                      skills=["PyTorch", " RAG "])
    services.evidence_attach(project=project, user=learner, job_id=job.pk)
    return services.portfolio_publish(portfolio=p, user=learner)


@pytest.fixture
def portfolio(learner, spam_job):
    return published_portfolio(learner, spam_job)


def api_as(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
