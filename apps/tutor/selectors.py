"""Reads for the tutor: the passages a question retrieves, a learner's conversations, usage today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from apps.core.roles import user_role_names
from apps.core.search.models import SearchChunk
from apps.core.search.selectors import search
from apps.tutor.models import Conversation, PlaygroundRun, Turn

# Kinds a tutor answer may cite: the platform's explanations (not interview questions' model
# answers, nor links to other sites).
CITABLE_KINDS = ["article", "glossary", "topic"]
MAX_PASSAGE_CHARS = 1200


@dataclass(frozen=True)
class Passage:
    n: int  # the citation number, [1]...
    kind: str
    key: str
    title: str
    url: str  # the article section's anchor where the passage has one
    text: str

    def as_dict(self) -> dict:
        return {"n": self.n, "kind": self.kind, "key": self.key, "title": self.title, "url": self.url,
                "text": self.text}


def tutor_passages(question: str, *, limit: int | None = None) -> list[Passage]:
    """The passages that best answer ``question``, numbered for citation (hybrid retrieval)."""
    limit = limit or settings.TUTOR_PASSAGES
    hits = search(question, kinds=CITABLE_KINDS, limit=limit)
    texts = dict(SearchChunk.objects.filter(id__in=[h.chunk_id for h in hits if h.chunk_id]).values_list("id", "text"))
    passages = []
    for hit in hits:
        text = texts.get(hit.chunk_id) or hit.summary
        passages.append(Passage(len(passages) + 1, hit.kind, hit.key, hit.title, hit.url, text[:MAX_PASSAGE_CHARS]))
    return passages


def conversation_list(user) -> list[Conversation]:
    return list(Conversation.objects.filter(user=user).annotate(turn_count=Count("turns"))[:100])


def conversation_get(user, conversation_id: int) -> Conversation | None:
    """The learner's own conversation, or None (another learner's is indistinguishable from none)."""
    return Conversation.objects.filter(user=user, id=conversation_id).first()


def conversation_turns(conversation: Conversation) -> list[Turn]:
    return list(conversation.turns.all())


def budget_for(user) -> dict:
    """The most generous daily budget among the user's roles ({"questions": n, "usd": x})."""
    budgets = settings.TUTOR_DAILY_BUDGET
    names = set(user_role_names(user))
    if user.is_staff or user.is_superuser:
        names.add("staff")
    candidates = [budgets[name] for name in names if name in budgets] or [budgets.get("*", {"questions": 0, "usd": 0})]
    return {
        "questions": max(int(b.get("questions", 0)) for b in candidates),
        "usd": max(Decimal(str(b.get("usd", 0))) for b in candidates),
    }


def usage_today(user) -> dict:
    """Questions asked and estimated USD spent since midnight (server time zone)."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    row = Turn.objects.filter(user=user, created_at__gte=start).aggregate(questions=Count("id"), usd=Sum("cost_usd"))
    runs = PlaygroundRun.objects.filter(user=user, created_at__gte=start).aggregate(usd=Sum("cost_usd"))
    return {"questions": row["questions"] or 0, "usd": (row["usd"] or Decimal(0)) + (runs["usd"] or Decimal(0)),
            "resets_at": start + timedelta(days=1)}
