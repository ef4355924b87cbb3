"""Curriculum: the roadmap (phases, topics, milestones, checklists), articles, glossary and
resources, plus each learner's progress.

Every content row has a ``slug`` that never changes once shipped: the loader matches rows
by slug and updates them in place, so progress (which points at row ids) survives reloads.
``source_hash`` records what content/ last said about a row, so a reload writes only rows
whose file changed (see ``loader.py``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from apps.core.models import TimeStampedModel

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
slug_validator = RegexValidator(SLUG_PATTERN, "Use lowercase letters, digits and single hyphens, e.g. self-attention.")


def _slug_field() -> models.SlugField:
    return models.SlugField(max_length=100, unique=True, validators=[slug_validator])


def _source_hash_field() -> models.CharField:
    return models.CharField(max_length=64, blank=True, editable=False)


class SubTrack(models.TextChoices):
    NONE = "", "Core"
    PROMPT_ENGINEERING = "prompt-engineering", "Prompt engineering & LLM APIs"
    RAG = "rag", "Retrieval-augmented generation"
    FINE_TUNING = "fine-tuning", "Fine-tuning & alignment"
    AGENTS = "agents", "LLM agents"
    MULTIMODAL = "multimodal", "Multimodal AI"
    LLMOPS = "llmops", "LLMOps"


# Letters the guide gives phase 4's five sub-tracks (A-E).
SUB_TRACK_LETTERS = {
    SubTrack.PROMPT_ENGINEERING: "A",
    SubTrack.RAG: "B",
    SubTrack.FINE_TUNING: "C",
    SubTrack.AGENTS: "D",
    SubTrack.MULTIMODAL: "E",
}


class Section(models.TextChoices):
    WHAT_IS_GENAI = "what-is-genai", "What is generative AI"
    CAREERS = "careers", "Careers"
    ROADMAP = "roadmap", "The roadmap"
    CORE_CONCEPTS = "core-concepts", "Core concepts"
    TECH_STACK = "tech-stack", "Tech stack & tools"
    PROJECTS = "projects", "Projects"
    GETTING_HIRED = "getting-hired", "Getting hired"
    RESOURCES = "resources", "Learning resources"
    FAQ = "faq", "FAQ"
    ACTION_PLAN = "action-plan", "Action plan"
    CHEATSHEETS = "cheatsheets", "Cheatsheets"


class Phase(TimeStampedModel):
    number = models.PositiveSmallIntegerField(unique=True, validators=[MaxValueValidator(5)])
    slug = _slug_field()
    title = models.CharField(max_length=200)
    week_start = models.PositiveSmallIntegerField()
    week_end = models.PositiveSmallIntegerField()
    goal = models.TextField()
    summary = models.TextField(help_text="Markdown.")
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(week_end__gte=models.F("week_start")), name="phase_weeks_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"Phase {self.number}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("curriculum:phase", args=[self.slug])


class Article(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    slug = _slug_field()
    title = models.CharField(max_length=200)
    section = models.CharField(max_length=32, choices=Section.choices)
    summary = models.TextField()
    body = models.TextField(help_text="Markdown. Glossary terms are linked automatically; no raw HTML.")
    order = models.IntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    topics = models.ManyToManyField("Topic", blank=True, related_name="articles")
    # The edit-conflict guard: every saved edit increments it; a save that was started from
    # an older version is refused (services.article_update).
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["section", "order", "title"]
        permissions = [("publish_article", "Can publish and unpublish articles")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("curriculum:article", args=[self.slug])

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class ArticleRevision(models.Model):
    """One saved state of an article. Never edited or deleted: restoring adds a new one."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    summary = models.TextField()
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["article", "version"], name="articlerevision_unique_version")]

    def __str__(self) -> str:
        return f"{self.article.slug} v{self.version}"


class Topic(TimeStampedModel):
    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="topics")
    slug = _slug_field()
    title = models.CharField(max_length=200)
    sub_track = models.CharField(max_length=32, choices=SubTrack.choices, blank=True, default="")
    summary = models.TextField(help_text="Markdown.")
    tools = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    order = models.PositiveIntegerField(default=0)
    prerequisites = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="unlocks")
    article = models.ForeignKey(
        Article,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="primary_topics",
        help_text="The article that goes deeper.",
    )
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["phase__number", "order"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("curriculum:topic", args=[self.slug])

    @property
    def sub_track_letter(self) -> str:
        return SUB_TRACK_LETTERS.get(self.sub_track, "")


class MilestoneProject(TimeStampedModel):
    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="milestones")
    slug = _slug_field()
    title = models.CharField(max_length=200)
    description = models.TextField(help_text="Markdown.")
    success_criteria = ArrayField(models.TextField(), default=list, blank=True)
    order = models.PositiveIntegerField(default=0)
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["phase__number", "order"]

    def __str__(self) -> str:
        return self.title


class ChecklistItem(TimeStampedModel):
    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="checklist_items")
    slug = _slug_field()
    text = models.TextField()
    order = models.PositiveIntegerField(default=0)
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["phase__number", "order"]

    def __str__(self) -> str:
        return self.text


class GlossaryTerm(TimeStampedModel):
    slug = _slug_field()
    term = models.CharField(max_length=100)
    aliases = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    short = models.CharField(max_length=200, help_text="One sentence shown in the tooltip.")
    long = models.TextField(blank=True, help_text="Markdown, shown on the glossary page.")
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term

    def get_absolute_url(self) -> str:
        return reverse("curriculum:glossary") + f"#{self.slug}"


class Resource(TimeStampedModel):
    class Kind(models.TextChoices):
        COURSE = "course", "Course"
        PAPER = "paper", "Paper"
        BOOK = "book", "Book"
        NEWSLETTER = "newsletter", "Newsletter"
        PODCAST = "podcast", "Podcast"
        PLATFORM = "platform", "Platform"

    class Cost(models.TextChoices):
        FREE = "free", "Free"
        PAID = "paid", "Paid"

    slug = _slug_field()
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    cost = models.CharField(max_length=8, choices=Cost.choices, db_index=True)
    url = models.URLField(max_length=500)
    author = models.CharField(max_length=200, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    description = models.TextField(blank=True)
    topics = models.ManyToManyField(Topic, blank=True, related_name="resources")
    source_hash = _source_hash_field()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("curriculum:resource", args=[self.slug])


class TopicProgress(models.Model):
    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="topic_progress")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="progress")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "topic"], name="topicprogress_unique_user_topic")]

    def __str__(self) -> str:
        return f"{self.user} · {self.topic.slug}: {self.status}"


class ChecklistTick(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checklist_ticks")
    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="ticks")
    ticked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "item"], name="checklisttick_unique_user_item")]

    def __str__(self) -> str:
        return f"{self.user} ✓ {self.item.slug}"


class ArticleRead(models.Model):
    """A learner marked an article as done (articles such as the FAQ belong to no topic)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="articles_read")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="reads")
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "article"], name="articleread_unique_user_article")]

    def __str__(self) -> str:
        return f"{self.user} read {self.article.slug}"
