"""A learner's conversations with the tutor ("ask the guide"): each turn stores the question,
the answer, its citations, which provider and model answered, token usage and estimated cost."""

from __future__ import annotations

from django.conf import settings
from django.db import models

MAX_TITLE_CHARS = 120


class Conversation(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tutor_conversations")
    title = models.CharField(max_length=MAX_TITLE_CHARS)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="tutor_conv_user_updated")]

    def __str__(self) -> str:
        return self.title


class Turn(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tutor_turns")
    question = models.TextField()
    answer = models.TextField(blank=True)
    # [{"n": 1, "title": ..., "url": "/learn/articles/x/#section", "kind": ..., "key": ..., "text": ...}]
    citations = models.JSONField(default=list, blank=True)
    cited = models.JSONField(default=list, blank=True)  # the citation numbers the answer actually uses
    provider = models.CharField(max_length=64, blank=True)  # the LLM_PROVIDERS alias
    provider_label = models.CharField(max_length=120, blank=True)
    model = models.CharField(max_length=120, blank=True)
    extractive = models.BooleanField(default=False)
    grounded = models.BooleanField(default=True)  # False: the answer cites no passage (flagged)
    notice = models.CharField(max_length=300, blank=True)  # what the learner is told, e.g. a fallback
    provider_error = models.CharField(max_length=300, blank=True)  # for admins: which provider failed, why
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["user", "created_at"], name="tutor_turn_user_created")]

    def __str__(self) -> str:
        return self.question[:60]


class PlaygroundRun(models.Model):
    """One prompt-playground run: a task tried with several prompting strategies side by side."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="playground_runs")
    task = models.TextField()
    options = models.JSONField(default=dict)  # strategies, examples, samples, model, temperature
    # [{"strategy", "label", "output", "answer", "latency_ms", "input_tokens", "output_tokens", "cost_usd", "error"}]
    results = models.JSONField(default=list)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=120, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.task[:60]
