"""Portfolios: a learner's public profile, its projects and the lab runs that back them up,
and hiring managers' shortlists.

Nothing is public by default (``is_published``). Pages and the API address a portfolio by
``public_id`` (a random UUID), never by the user's or the row's id, so a link reveals
nothing about who is behind it or how many accounts exist.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel

# Caps on what one person can make the server store (issue 14: every list has one).
MAX_LINKS = 8
MAX_PROJECTS = 20
MAX_SKILLS = 12
MAX_EVIDENCE_PER_PROJECT = 10
MAX_SHORTLISTS = 50
MAX_SHORTLIST_ENTRIES = 500
MAX_BIO_CHARS = 10_000
MAX_SUMMARY_CHARS = 10_000
MAX_NOTE_CHARS = 2_000
MAX_SKILL_CHARS = 40
MAX_URL_CHARS = 300
MAX_LINK_LABEL_CHARS = 60


class Portfolio(TimeStampedModel):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portfolio")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    headline = models.CharField(max_length=120, blank=True)
    # A career Role slug when it names one (shown with the role's title), free text otherwise.
    specialization = models.CharField(max_length=80, blank=True)
    links = models.JSONField(default=list, blank=True, help_text='[{"label": "GitHub", "url": "https://..."}]')
    bio = models.TextField(blank=True, help_text="Markdown, rendered sanitized.")
    is_published = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["is_published", "-published_at"], name="portfolio_published_recent")]
        # Browsing other people's portfolios is a grant (the hiring_manager role), never is_staff.
        permissions = [
            ("keep_portfolio", "Can build and publish their own portfolio"),
            ("browse_portfolios", "Can search and open published portfolios and keep shortlists"),
        ]

    def __str__(self) -> str:
        return f"portfolio of {self.user}"


class Project(TimeStampedModel):
    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="projects")
    title = models.CharField(max_length=120)
    summary = models.TextField(blank=True, help_text="Markdown, rendered sanitized.")
    # Lower-case, trimmed, unique: search matches them exactly (jsonb containment).
    skills = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class ProjectEvidence(models.Model):
    """A lab run the platform itself ran, attached to a project (the learner's own succeeded job)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="evidence")
    job = models.ForeignKey("labs.LabJob", on_delete=models.CASCADE, related_name="portfolio_evidence")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "job"], name="evidence_project_job_unique")]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.job_id}"


class Shortlist(TimeStampedModel):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shortlists")
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="shortlist_owner_name_unique")]

    def __str__(self) -> str:
        return self.name


class ShortlistEntry(models.Model):
    shortlist = models.ForeignKey(Shortlist, on_delete=models.CASCADE, related_name="entries")
    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="shortlist_entries")
    # Private to the shortlist's owner: never shown to the learner or other hiring managers.
    note = models.TextField(blank=True)
    added_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["shortlist", "portfolio"], name="shortlistentry_unique_portfolio")
        ]

    def __str__(self) -> str:
        return f"{self.shortlist_id}:{self.portfolio_id}"
