"""Quiz: the interview question bank, learners' graded attempts, their review schedule and
mock interviews.

Questions are shipped content (``content/quiz/questions.yaml``, loaded by
``apps.quiz.loader.quiz_load``) and keyed by slug, so attempts and review states survive
reloads. Changing a question's grading material (key points, rubric, choices, tests)
raises ``grading_version``: old attempts keep the version they were graded against, and a
regrade adds a new ``Grade`` row instead of overwriting (the history stays).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.core.models import TimeStampedModel
from apps.curriculum.models import Topic
from apps.quiz.titles import cached_title


class Category(models.TextChoices):
    CONCEPTUAL = "conceptual", "Conceptual"
    CODING = "coding", "Coding"
    SYSTEM_DESIGN = "system-design", "System design"
    BEHAVIORAL = "behavioral", "Behavioral"
    RAPID_FIRE = "rapid-fire", "Rapid-fire"


class Difficulty(models.TextChoices):
    EASY = "easy", "Easy"
    MEDIUM = "medium", "Medium"
    HARD = "hard", "Hard"


class Question(TimeStampedModel):
    slug = models.SlugField(max_length=100, unique=True)
    category = models.CharField(max_length=20, choices=Category.choices, db_index=True)
    difficulty = models.CharField(max_length=10, choices=Difficulty.choices, db_index=True)
    phase = models.PositiveSmallIntegerField(db_index=True, help_text="Roadmap phase 0-5.")
    topics = models.ManyToManyField(Topic, blank=True, related_name="questions")
    prompt = models.TextField(help_text="The question (markdown).")
    model_answer = models.TextField(help_text="Markdown.")
    # [{"text": str, "weight": float}]
    key_points = models.JSONField(default=list, blank=True)
    # Multiple choice: [{"text": str, "correct": bool}]; empty for free-text questions.
    choices = models.JSONField(default=list, blank=True)
    # System design / behavioural: what a judge looks for beyond the key points (e.g. STAR).
    rubric = models.JSONField(default=list, blank=True)
    # Coding: starter code shown to the learner, hidden tests run in the sandbox
    # ([{"name": str, "code": str}]), and the reference solution (shown after an attempt).
    starter_code = models.TextField(blank=True, default="")
    tests = models.JSONField(default=list, blank=True)
    solution = models.TextField(blank=True, default="")
    grading_version = models.PositiveIntegerField(default=1)
    grading_hash = models.CharField(max_length=64, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    source_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["phase", "position"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("quiz:question", args=[self.slug])

    @property
    def title(self) -> str:
        """A short plain-text phrase from the prompt, for headings, lists and search results:
        whole sentences, or the first one cut at a clause or word boundary with "…", never
        more than ``titles.TITLE_MAX_LENGTH`` characters (see ``apps.quiz.titles``)."""
        return cached_title(self.prompt) or self.slug

    @property
    def answer_kind(self) -> str:
        """How the learner answers: ``choice``, ``code`` (run in the sandbox) or ``text``."""
        if self.choices:
            return "choice"
        if self.category == Category.CODING and self.tests:
            return "code"
        return "text"


class MockSession(TimeStampedModel):
    """A timed mock interview: a fixed set of questions mixing types, then a report."""

    class Status(models.TextChoices):
        ACTIVE = "active", "In progress"
        FINISHED = "finished", "Finished"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_mock_sessions")
    questions = models.JSONField(default=list, help_text="Question ids, in the order asked.")
    duration_seconds = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def get_absolute_url(self) -> str:
        return reverse("quiz:mock", args=[self.pk])


class Attempt(TimeStampedModel):
    """One answer to one question, and how it was graded.

    ``score`` and ``result`` mirror the attempt's current grade (the newest ``Grade`` row,
    an author's override included); every grade ever given stays in ``grades``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the sandbox"
        GRADING = "grading", "Running"
        GRADED = "graded", "Graded"
        FAILED = "failed", "Could not be graded"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="attempts")
    mock = models.ForeignKey(MockSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts")
    answer = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.GRADED, db_index=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    grader = models.CharField(max_length=20, blank=True, default="")
    # Per key point ({"matched": [...], "missed": [...]}) or per test ({"tests": [...]}).
    result = models.JSONField(default=dict, blank=True)
    feedback = models.TextField(blank=True, default="")
    grading_version = models.PositiveIntegerField(default=1)
    # The review card before this attempt's review (so the learner can re-rate it).
    card_before = models.JSONField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True, help_text="FSRS rating 1-4 given.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "question", "-created_at"])]

    def get_absolute_url(self) -> str:
        return reverse("quiz:attempt", args=[self.pk])


class Grade(TimeStampedModel):
    """One grading of an attempt, kept for audit: the grader, its details (for the judge:
    prompt, raw response, parsed score), and who overrode it, if a person did."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="grades")
    grader = models.CharField(max_length=20)
    score = models.PositiveSmallIntegerField()
    result = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    grading_version = models.PositiveIntegerField(default=1)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["created_at", "pk"]


class ReviewState(TimeStampedModel):
    """FSRS card of one learner for one question (``card`` is ``fsrs.Card.to_dict()``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_reviews")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="reviews")
    card = models.JSONField(default=dict)
    due = models.DateTimeField(db_index=True)
    stability = models.FloatField(null=True, blank=True)
    last_score = models.PositiveSmallIntegerField(null=True, blank=True)
    reviews = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "question"], name="quiz_review_unique")]
        ordering = ["due"]
