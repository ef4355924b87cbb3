"""The prompt playground (the guide's beginner project 2): one task, several prompting
strategies side by side - zero-shot, few-shot with the learner's examples, chain-of-thought,
self-consistency (N chain-of-thought samples and a majority vote) - each with its latency,
token counts and estimated cost. Runs are stored per learner and count against the daily
budget."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.core.errors import ApplicationError, Throttled
from apps.llm import LLMError, Message, get_provider
from apps.tutor import selectors
from apps.tutor.models import PlaygroundRun

STRATEGIES = {
    "zero_shot": "Zero-shot",
    "few_shot": "Few-shot",
    "chain_of_thought": "Chain-of-thought",
    "self_consistency": "Self-consistency",
}
MAX_TASK_CHARS = 4_000
MAX_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 500
MAX_SAMPLES = 5
MAX_RUNS_PER_MINUTE = 3
MAX_OUTPUT_TOKENS = 400
COT = "\n\nThink step by step. Then give the final answer on a last line that starts with 'Answer:'."
_ANSWER = re.compile(r"^\s*answer\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def final_answer(text: str) -> str:
    """The text after the last 'Answer:' line (the whole reply, trimmed, when there is none)."""
    found = _ANSWER.findall(text)
    return (found[-1] if found else text).strip().rstrip(".").lower()[:200]


def playground_run(
    user, task: str, *, strategies: list[str], examples: list[str] | None = None, samples: int = 3,
    model: str = "", temperature: float = 0.7,
) -> PlaygroundRun:
    """Run ``task`` with each of ``strategies`` and store the comparison."""
    task = (task or "").strip()
    examples = [e.strip() for e in (examples or []) if e and e.strip()]
    _validate(task, strategies, examples, samples, temperature)
    _check_limits(user)
    provider = get_provider()
    if provider.extractive:
        raise ApplicationError(
            "The playground needs a language model, and none is configured (LLM_PROVIDERS). "
            "Ask an administrator to set one up.", field="strategies",
        )
    results, total_in, total_out, total_cost = [], 0, 0, Decimal(0)
    for strategy in strategies:
        result = _run_strategy(provider, strategy, task, examples, samples, model, temperature)
        total_in += result["input_tokens"]
        total_out += result["output_tokens"]
        total_cost += Decimal(result["cost_usd"])
        results.append(result)
    return PlaygroundRun.objects.create(
        user=user, task=task, results=results, provider=provider.alias, model=model or provider.model,
        options={"strategies": strategies, "examples": examples, "samples": samples, "model": model,
                 "temperature": temperature},
        input_tokens=total_in, output_tokens=total_out, cost_usd=total_cost,
    )


def _run_strategy(provider, strategy, task, examples, samples, model, temperature) -> dict:
    if strategy == "few_shot":
        shots = "\n\n".join(f"Example {i}:\n{e}" for i, e in enumerate(examples, 1))
        prompts = [f"{shots}\n\nNow the task:\n{task}"]
    elif strategy == "chain_of_thought":
        prompts = [task + COT]
    elif strategy == "self_consistency":
        prompts = [task + COT] * samples
    else:
        prompts = [task]
    started = time.monotonic()
    outputs, tokens_in, tokens_out, cost, error, answered_by = [], 0, 0, Decimal(0), "", model or provider.model
    for prompt in prompts:
        try:
            reply = provider.chat([Message("user", prompt)], model=model, max_tokens=MAX_OUTPUT_TOKENS,
                                  temperature=temperature if strategy == "self_consistency" else min(temperature, 0.7))
        except LLMError as exc:
            error = exc.message if exc.permanent else "The model did not answer; try again in a moment."
            break
        outputs.append(reply.text)
        answered_by = reply.model or answered_by
        tokens_in += reply.usage.input_tokens
        tokens_out += reply.usage.output_tokens
        cost += provider.estimate_cost(reply.model, reply.usage)
    answer, votes = "", {}
    if strategy == "self_consistency" and outputs:
        counted = Counter(final_answer(o) for o in outputs)
        answer, votes = counted.most_common(1)[0][0], dict(counted)
        output = "\n\n---\n\n".join(outputs)
    else:
        output = outputs[0] if outputs else ""
        answer = final_answer(output) if output else ""
    return {
        "strategy": strategy, "label": STRATEGIES[strategy], "output": output[:20_000], "answer": answer,
        "votes": votes, "samples": len(outputs), "latency_ms": int((time.monotonic() - started) * 1000),
        "input_tokens": tokens_in, "output_tokens": tokens_out, "cost_usd": str(cost), "model": answered_by,
        "error": error,
    }


def _validate(task, strategies, examples, samples, temperature) -> None:
    if not task:
        raise ApplicationError("Write a task for the model.", field="task")
    if len(task) > MAX_TASK_CHARS:
        raise ApplicationError(f"The task is limited to {MAX_TASK_CHARS:,} characters (this one has {len(task):,}).",
                               field="task")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if not strategies or unknown or len(set(strategies)) != len(strategies):
        raise ApplicationError(f"Pick one or more different strategies from: {', '.join(STRATEGIES)}.",
                               field="strategies")
    if "few_shot" in strategies and not examples:
        raise ApplicationError("Few-shot needs at least one example (an input and its output).", field="examples")
    if len(examples) > MAX_EXAMPLES or any(len(e) > MAX_EXAMPLE_CHARS for e in examples):
        raise ApplicationError(f"At most {MAX_EXAMPLES} examples of {MAX_EXAMPLE_CHARS} characters each.",
                               field="examples")
    if not 2 <= samples <= MAX_SAMPLES:
        raise ApplicationError(f"Self-consistency takes 2 to {MAX_SAMPLES} samples.", field="samples")
    if not 0 <= temperature <= 2:
        raise ApplicationError("Temperature must be between 0 and 2.", field="temperature")


def _check_limits(user) -> None:
    recent = PlaygroundRun.objects.filter(user=user, created_at__gte=timezone.now() - timedelta(seconds=60)).count()
    if recent >= MAX_RUNS_PER_MINUTE:
        raise Throttled(f"At most {MAX_RUNS_PER_MINUTE} playground runs a minute: wait a moment.",
                        extra={"retry_after": 60})
    budget, used = selectors.budget_for(user), selectors.usage_today(user)
    if budget["usd"] and used["usd"] >= budget["usd"]:
        raise Throttled(f"Your daily model budget (${budget['usd']}) is used up; it resets at midnight.",
                        extra={"retry_after": 3600})


def playground_runs(user) -> list[PlaygroundRun]:
    return list(PlaygroundRun.objects.filter(user=user)[:20])


def playground_models() -> list[str]:
    provider = get_provider()
    if provider.extractive:
        return []
    try:
        return provider.models()[:50]
    except LLMError:
        return [provider.model] if provider.model else []

