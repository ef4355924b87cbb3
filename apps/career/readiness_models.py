"""Job readiness: the guide's checklist (ReadinessItem), a learner's ticks on it, and the
roles a learner aims for (TargetRole).

Imported at the end of ``apps/career/models.py`` so Django sees these models as part of
the career app. Items are loaded from ``content/career/readiness.yaml`` and matched by
slug, like the curriculum, so ticks survive reloads; an item that leaves the file is
deactivated (its ticks are kept, it no longer counts).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel

# How many roles one learner may aim for at once: enough to compare a few options, few
# enough that the readiness page stays a plan rather than a catalogue.
MAX_TARGET_ROLES = 5


class ReadinessCategory(models.TextChoices):
    PORTFOLIO = "portfolio", "Portfolio"
    WRITING = "writing", "Writing"
    OPEN_SOURCE = "open-source", "Open source"
    COMMUNITY = "community", "Community"


class ReadinessItem(TimeStampedModel):
    slug = models.SlugField(max_length=100, unique=True)
    category = models.CharField(max_length=16, choices=ReadinessCategory.choices)
    text = models.CharField(max_length=300, help_text="What is true once the item is done.")
    why = models.TextField(blank=True, help_text="Why hiring managers care, in a sentence or two.")
    # A site path ("/portfolios/") or an http(s) URL: where to go to do it.
    link = models.CharField(max_length=300, blank=True)
    link_label = models.CharField(max_length=100, blank=True)
    order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    source_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["order", "slug"]

    def __str__(self) -> str:
        return self.text


class ReadinessTick(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="readiness_ticks")
    item = models.ForeignKey(ReadinessItem, on_delete=models.CASCADE, related_name="ticks")
    ticked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "item"], name="readinesstick_unique_user_item")]

    def __str__(self) -> str:
        return f"{self.user} ✓ {self.item.slug}"


class TargetRole(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="target_roles")
    role = models.ForeignKey("career.Role", on_delete=models.CASCADE, related_name="targeted_by")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="targetrole_unique_user_role")]

    def __str__(self) -> str:
        return f"{self.user} → {self.role_id}"
