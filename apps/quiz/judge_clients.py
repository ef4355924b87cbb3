"""Clients for the LLM-as-judge grader (``QUIZ_JUDGE_CLIENT`` names one of these, or any
callable ``complete(system, prompt) -> str``).

Each sends one system + user message with temperature 0 and returns the reply's text; API
keys come from the providers' own environment variables (``ANTHROPIC_API_KEY``,
``OPENAI_API_KEY``), never from the database or a page. ``QUIZ_JUDGE_MODEL`` picks the model
and ``QUIZ_JUDGE_BASE_URL`` points the OpenAI client at a compatible server (e.g. vLLM on the
GPU pool). A failure raises; the judge grader then keeps the offline grade and says so.
"""

from __future__ import annotations

from django.conf import settings

MAX_TOKENS = 400


def anthropic_complete(system: str, prompt: str) -> str:
    import anthropic

    client = anthropic.Anthropic(timeout=settings.QUIZ_JUDGE_TIMEOUT_SECONDS, max_retries=1)
    reply = client.messages.create(
        model=settings.QUIZ_JUDGE_MODEL or "claude-3-5-haiku-latest",
        max_tokens=MAX_TOKENS,
        temperature=0,
        system=system,
        messages=[{"role": "user", "content": prompt}],
    )
    return "".join(getattr(block, "text", "") for block in reply.content)


def openai_complete(system: str, prompt: str) -> str:
    import openai

    client = openai.OpenAI(base_url=settings.QUIZ_JUDGE_BASE_URL or None,
                           timeout=settings.QUIZ_JUDGE_TIMEOUT_SECONDS, max_retries=1)
    reply = client.chat.completions.create(
        model=settings.QUIZ_JUDGE_MODEL or "gpt-4o-mini",
        max_tokens=MAX_TOKENS,
        temperature=0,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
    )
    return reply.choices[0].message.content or ""
