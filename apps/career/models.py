"""The career catalogue: tracks, roles, salary bands, time-to-job-ready and the guide's lists.

Everything here is shipped content loaded from content/career/ (see ``apps.career.loader``).
Rows are matched by ``slug`` so a reload updates them in place; ``source_hash`` remembers
what the file said at the last load, so an unchanged entry is not rewritten.

The readiness feature keeps its own models in ``apps.career.readiness_models`` (imported at
the end of this module so Django sees them as part of this app).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

from apps.core.models import TimeStampedModel

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
slug_validator = RegexValidator(SLUG_PATTERN, "Use lowercase letters, digits and single hyphens.")


def _slug_field(*, unique: bool = True) -> models.SlugField:
    return models.SlugField(max_length=100, unique=unique, validators=[slug_validator])


def _source_hash_field() -> models.CharField:
    return models.CharField(max_length=64, blank=True, default="", editable=False)


class Track(TimeStampedModel):
    """A branch of the guide's career tree (research, engineering, product, specialist)."""

    slug = _slug_field()
    title = models.CharField(max_length=200)
    summary = models.TextField()
    position = models.PositiveIntegerField(default=0)
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.title


class Role(TimeStampedModel):
    """A job inside a track, with what it does, its skills and the roadmap topics it needs."""

    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="roles")
    slug = _slug_field()
    title = models.CharField(max_length=200)
    summary = models.TextField()
    what_it_does = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    skills = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    topics = models.ManyToManyField(
        "curriculum.Topic",
        blank=True,
        related_name="career_roles",
        help_text="Roadmap topics this role requires.",
    )
    position = models.PositiveIntegerField(default=0)
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["track__position", "position", "slug"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("career:role", args=[self.slug])


class Region(models.TextChoices):
    US = "us", "United States"
    EUROPE = "europe", "Europe"
    INDIA = "india", "India"
    REMOTE = "remote", "Remote"


class Level(models.TextChoices):
    JUNIOR = "junior", "Junior"
    MID = "mid", "Mid"
    MID_SENIOR = "mid-senior", "Mid-Senior"
    SENIOR = "senior", "Senior"
    STAFF = "staff", "Staff"
    ALL = "all", "All levels"


class SalaryBand(TimeStampedModel):
    """One row of the guide's salary tables.

    Amounts are yearly. Some rows only give a share of the US figure (remote work for a US
    company), so the amounts are optional and ``pct_of_us_*`` carries that instead; the loader
    makes sure every row has one or the other, and always a year and a source.
    """

    slug = _slug_field()
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.SET_NULL, related_name="salary_bands")
    role_label = models.CharField(max_length=200, help_text="The role as the source names it.")
    level = models.CharField(max_length=16, choices=Level.choices)
    level_label = models.CharField(max_length=100, blank=True, default="")
    region = models.CharField(max_length=16, choices=Region.choices)
    region_label = models.CharField(max_length=100, blank=True, default="")
    currency = models.CharField(max_length=3, default="USD")
    base_min = models.PositiveIntegerField(null=True, blank=True)
    base_max = models.PositiveIntegerField(null=True, blank=True)
    total_min = models.PositiveIntegerField(null=True, blank=True)
    total_max = models.PositiveIntegerField(null=True, blank=True)
    open_ended = models.BooleanField(default=False, help_text="The source gives the upper bound as 'X+'.")
    pct_of_us_min = models.PositiveSmallIntegerField(null=True, blank=True)
    pct_of_us_max = models.PositiveSmallIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, default="")
    year = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=300)
    position = models.PositiveIntegerField(default=0)
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return f"{self.role_label} · {self.get_level_display()} · {self.region_label or self.get_region_display()}"


class JobReadyEstimate(TimeStampedModel):
    """How long it typically takes to become job-ready from a given starting point."""

    slug = _slug_field()
    background = models.CharField(max_length=200)
    months_min = models.PositiveSmallIntegerField()
    months_max = models.PositiveSmallIntegerField()
    notes = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return f"{self.background}: {self.months_min}-{self.months_max} months"


class GuideList(TimeStampedModel):
    """One of the guide's job-hunt lists: company types, where to find jobs, keywords, red flags."""

    slug = _slug_field()
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True, default="")
    # Headings for the two optional parts of each entry, e.g. "What they build" / "What they need".
    detail_label = models.CharField(max_length=100, blank=True, default="")
    points_label = models.CharField(max_length=100, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("career:guide", args=[self.slug])


class GuideEntry(models.Model):
    """One entry of a guide list; entries are replaced as a whole when their list changes."""

    guide_list = models.ForeignKey(GuideList, on_delete=models.CASCADE, related_name="entries")
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True, default="")
    points = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["guide_list", "position"]

    def __str__(self) -> str:
        return self.title


from apps.career.readiness_models import *  # noqa: E402, F403
