"""Fixtures for the readiness tests: a small roadmap, two roles, the lab catalogue and a
four-item checklist (one per category), built directly so every count is known."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from apps.career.models import Role, Track
from apps.career.readiness_models import ReadinessItem
from apps.career.readiness_services import readiness_items_load
from apps.curriculum.models import MilestoneProject, Phase, Topic, TopicProgress
from apps.labs.models import Lab, LabJob
from apps.labs.services import lab_catalog_sync

CHECKLIST = """\
- slug: five-projects
  category: portfolio
  text: Five projects on GitHub.
  why: Hiring managers look for them.
  link: /portfolios/
  link_label: Open your portfolio
- slug: blog-post
  category: writing
  text: A technical blog post.
- slug: merged-pr
  category: open-source
  text: A merged pull request.
- slug: meetup
  category: community
  text: Went to a meetup.
"""


def write_checklist(root: Path, text: str = CHECKLIST) -> Path:
    (root / "career").mkdir(parents=True, exist_ok=True)
    (root / "career" / "readiness.yaml").write_text(text, encoding="utf-8")
    return root


def _phase(number: int) -> Phase:
    return Phase.objects.create(
        number=number,
        slug=f"phase-{number}",
        title=f"Phase {number}",
        week_start=number * 4 + 1,
        week_end=number * 4 + 4,
        goal="A goal.",
        summary="A summary.",
    )


def _topic(phase: Phase, slug: str, order: int) -> Topic:
    return Topic.objects.create(phase=phase, slug=slug, title=slug.replace("-", " ").title(), summary="x", order=order)


@pytest.fixture
def world(db, tmp_path) -> dict:
    p0, p1, p3 = _phase(0), _phase(1), _phase(3)
    topics = {
        "vectors": _topic(p0, "vectors", 1),
        "classic-ml": _topic(p1, "classic-ml", 1),
        "transformers": _topic(p3, "transformers", 1),
    }
    # The lab kinds point at these milestone slugs: spam-classifier (phase 1), char-gpt (phase 3).
    MilestoneProject.objects.create(phase=p1, slug="spam-classifier", title="Spam", description="x")
    MilestoneProject.objects.create(phase=p3, slug="gpt-from-scratch", title="GPT", description="x")
    lab_catalog_sync()
    track = Track.objects.create(slug="engineering", title="Engineering track", summary="Build things.")
    full = Role.objects.create(track=track, slug="llm-engineer", title="LLM Engineer", summary="Builds with LLMs.")
    full.topics.set(topics.values())
    small = Role.objects.create(track=track, slug="math-role", title="Math Role", summary="Only maths.", position=1)
    small.topics.set([topics["vectors"]])
    readiness_items_load(write_checklist(tmp_path / "content"))
    return {
        "topics": topics,
        "full": full,
        "small": small,
        "labs": {lab.slug: lab for lab in Lab.objects.all()},
        "items": {item.slug: item for item in ReadinessItem.objects.all()},
    }


def succeeded_job(user, lab: Lab, *, passed: bool | None = True, metrics: dict | None = None) -> LabJob:
    now = timezone.now()
    return LabJob.objects.create(
        owner=user,
        lab=lab,
        queue=lab.queue,
        params={},
        status=LabJob.Status.SUCCEEDED,
        started_at=now,
        finished_at=now,
        metrics=metrics or {"accuracy": 0.97},
        grade={"targets": [], "passed": passed},
    )


def set_topic(user, topic: Topic, status: str) -> None:
    TopicProgress.objects.update_or_create(user=user, topic=topic, defaults={"status": status})
