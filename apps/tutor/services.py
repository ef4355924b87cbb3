"""Writes for the tutor: ask a question (grounded answer with citations, streamed or not),
delete conversations. Every path ends with a stored turn: usage, cost, provider and model."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, NotFound, Throttled
from apps.llm import LLMError, Message, get_provider
from apps.llm.backends.extractive import words
from apps.tutor import selectors
from apps.tutor.models import MAX_TITLE_CHARS, Conversation, Turn
from apps.tutor.prompts import NOT_IN_PASSAGES, cited_numbers, system_prompt
from apps.tutor.selectors import Passage

logger = logging.getLogger(__name__)

MAX_TURNS_PER_CONVERSATION = 50
MAX_ANSWER_TOKENS = 700
FALLBACK_NOTICE = "The language model did not answer, so here are the most relevant passages instead."
NO_PASSAGES = (
    'Nothing in the guide matches this question. Try naming the idea ("temperature", "RAG") or search the site.'
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class TutorEvent:
    """One step of an answer being written: ``start`` (citations known), ``delta`` (text),
    ``replace`` (the text so far is replaced: a fallback), ``done`` (the stored turn)."""

    kind: str
    text: str = ""
    passages: list[Passage] = field(default_factory=list)
    turn: Turn | None = None


def tutor_ask(user, question: str, *, conversation_id: int | None = None) -> Turn:
    """Ask and wait for the whole answer (the API and the page without JavaScript)."""
    turn = None
    for event in tutor_ask_stream(user, question, conversation_id=conversation_id):
        if event.kind == "done":
            turn = event.turn
    assert turn is not None
    return turn


def tutor_ask_stream(user, question: str, *, conversation_id: int | None = None) -> Iterator[TutorEvent]:
    """Check limits, retrieve, answer (streamed from the provider, or extractive), store the turn.

    Raises ApplicationError (400/404/429) before anything is streamed; after that, a
    provider failure falls back to the extractive answer with a notice.
    """
    question = " ".join((question or "").split())
    _check_question(question)
    conversation = _conversation(user, conversation_id)
    _check_limits(user)
    history = list(conversation.turns.all()) if conversation else []
    if len(history) >= MAX_TURNS_PER_CONVERSATION:
        raise ApplicationError(
            f"This conversation has {MAX_TURNS_PER_CONVERSATION} questions, the most one can hold: start a new one.",
            field="conversation",
        )
    # A short follow-up ("and why is it cheaper?") is retrieved with the previous question.
    retrieval_query = question
    if history and len(question.split()) < 12:
        retrieval_query = f"{history[-1].question} {question}"
    passages = selectors.tutor_passages(retrieval_query)
    yield TutorEvent("start", passages=passages)

    provider = get_provider()
    started = time.monotonic()
    text, notice, provider_error, model, usage = "", "", "", provider.model, None
    extractive = provider.extractive or not passages
    if not extractive:
        messages = []
        for turn in history[-settings.TUTOR_HISTORY_TURNS :]:
            messages += [Message("user", turn.question), Message("assistant", turn.answer)]
        messages.append(Message("user", question))
        try:
            for event in provider.stream(messages, system=system_prompt(passages), max_tokens=MAX_ANSWER_TOKENS):
                if event.done:
                    usage, model = event.usage, event.model or model
                elif event.delta:
                    text += event.delta
                    yield TutorEvent("delta", text=event.delta)
        except LLMError as exc:
            # Admins see which provider failed and why (never the key); the learner a neutral notice.
            logger.warning("tutor: LLM provider %r (%s) failed: %s", provider.alias, provider.label, exc.message)
            provider_error = f"{provider.alias} ({provider.label}): {exc.message}"[:300]
            notice, extractive, usage = FALLBACK_NOTICE, True, None
            if text:
                yield TutorEvent("replace", text="")
            text = ""
    if extractive:
        text = extractive_answer(question, passages)
        model = "extractive"
        yield TutorEvent("delta", text=text)
    cited = cited_numbers(text, passages)
    cost = provider.estimate_cost(model, usage) if usage and not extractive else Decimal(0)
    turn = _store(
        user, conversation, question, text, passages, cited,
        provider_alias=provider.alias if not provider_error else "extractive",
        provider_label=provider.label if not extractive else "Extractive (offline, no language model)",
        model=model, extractive=extractive, notice=notice, provider_error=provider_error, usage=usage, cost=cost,
        latency_ms=int((time.monotonic() - started) * 1000),
    )
    yield TutorEvent("done", turn=turn, passages=passages)


def extractive_answer(question: str, passages: list[Passage], *, per_passage: int = 2, top: int = 3) -> str:
    """The most relevant sentences of the best passages, each followed by its citation."""
    if not passages:
        return NO_PASSAGES
    wanted = words(question)
    parts = []
    for passage in passages[:top]:
        lines = passage.text.split("\n")
        body = " ".join(lines[1:]) if passage.kind == "article" and len(lines) > 1 else " ".join(lines)
        sentences = [s.strip() for s in _SENTENCE.split(body) if len(s.strip()) > 20]
        if not sentences:
            continue
        ranked = sorted(range(len(sentences)), key=lambda i: (-len(wanted & words(sentences[i])), i))
        chosen = sorted(ranked[:per_passage])
        parts.append(" ".join(sentences[i] for i in chosen) + f" [{passage.n}]")
    return "\n\n".join(parts) or NO_PASSAGES


def tutor_conversation_delete(user, conversation_id: int) -> None:
    deleted, _ = Conversation.objects.filter(user=user, id=conversation_id).delete()
    if not deleted:
        raise NotFound("No such conversation (it may already be deleted).")


def tutor_history_delete(user) -> int:
    """Delete all of the learner's conversations; returns how many there were."""
    count = Conversation.objects.filter(user=user).count()
    Conversation.objects.filter(user=user).delete()
    return count


# --- internals ---------------------------------------------------------------------------


def _check_question(question: str) -> None:
    limit = settings.TUTOR_MAX_QUESTION_CHARS
    if not re.search(r"\w", question):
        raise ApplicationError("Type a question for the guide.", field="question")
    if len(question) > limit:
        raise ApplicationError(
            f"Questions are limited to {limit:,} characters (this one has {len(question):,}): ask something shorter.",
            field="question",
        )


def _conversation(user, conversation_id: int | None) -> Conversation | None:
    if conversation_id is None:
        return None
    conversation = selectors.conversation_get(user, conversation_id)
    if conversation is None:
        raise NotFound("No such conversation: it may have been deleted. Ask again to start a new one.")
    return conversation


def _check_limits(user) -> None:
    now = timezone.now()
    per_minute = settings.TUTOR_MAX_QUESTIONS_PER_MINUTE
    recent = Turn.objects.filter(user=user, created_at__gte=now - timedelta(seconds=60)).count()
    if recent >= per_minute:
        raise Throttled(
            f"You have asked {recent} questions in the last minute (the limit is {per_minute}): wait a minute.",
            extra={"retry_after": 60},
        )
    budget, used = selectors.budget_for(user), selectors.usage_today(user)
    if used["questions"] >= budget["questions"] or (budget["usd"] and used["usd"] >= budget["usd"]):
        resets = timezone.localtime(used["resets_at"]).strftime("%H:%M")
        raise Throttled(
            f"Your daily tutor budget is used up ({budget['questions']} questions or ${budget['usd']} of model "
            f"use a day); it resets at {resets}. The articles and search still work.",
            extra={"retry_after": max(1, int((used["resets_at"] - now).total_seconds()))},
        )


def _store(user, conversation, question, text, passages, cited, *, provider_alias, provider_label, model,
           extractive, notice, provider_error, usage, cost, latency_ms) -> Turn:
    with transaction.atomic():
        if conversation is None:
            if Conversation.objects.filter(user=user).count() >= settings.TUTOR_MAX_CONVERSATIONS:
                oldest = Conversation.objects.filter(user=user).order_by("updated_at", "id").first()
                if oldest:
                    oldest.delete()
            title = question if len(question) <= MAX_TITLE_CHARS else question[: MAX_TITLE_CHARS - 1] + "…"
            conversation = Conversation.objects.create(user=user, title=title)
        declined = text.strip().startswith(NOT_IN_PASSAGES)
        turn = Turn.objects.create(
            conversation=conversation, user=user, question=question, answer=text,
            citations=[p.as_dict() for p in passages], cited=cited, provider=provider_alias,
            provider_label=provider_label, model=model[:120], extractive=extractive,
            grounded=bool(cited) or declined, notice=notice, provider_error=provider_error,
            input_tokens=usage.input_tokens if usage else 0, output_tokens=usage.output_tokens if usage else 0,
            cost_usd=cost, latency_ms=latency_ms,
        )
        conversation.save(update_fields=["updated_at"])
    return turn
