"""The search relevance set (bench/search/relevance.yaml) against the real shipped content.

Not timed: it holds the retrieval quality the tutor depends on. bench/search/relevance.py
measured recall@3 0.904 and MRR 0.845 for hybrid search (the baseline RRF fusion: 0.789 /
0.682); the floors below leave a small margin for model and content drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from apps.core.search import selectors

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "search"))
import relevance  # noqa: E402

pytestmark = pytest.mark.django_db

RECALL_AT_3_FLOOR = 0.88
MRR_FLOOR = 0.82


def rank(query: str) -> list[tuple[str, str]]:
    return [(h.kind, h.key) for h in selectors.search(query, limit=selectors.MAX_LIMIT)]


def test_the_relevance_set_covers_every_phase_and_names_real_items(shipped):
    from apps.core.search.models import SearchChunk

    questions = relevance.load_set()
    assert len(questions) >= 80
    assert {q["phase"] for q in questions} >= {"0", "1", "2", "3", "4", "5", "career"}
    indexed = set(SearchChunk.objects.values_list("kind", "key").distinct())
    missing = [item for q in questions for item in q["expect"] if item not in indexed]
    assert not missing, missing


def test_hybrid_search_finds_the_answer_in_the_top_3(shipped):
    summary = relevance.evaluate(rank, relevance.load_set())
    misses = "\n".join(f"{m['q']} -> {m['rank']} {m['top3']}" for m in summary["misses"])
    assert summary["recall@3"] >= RECALL_AT_3_FLOOR, misses
    assert summary["mrr"] >= MRR_FLOOR, misses


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("the model confidently makes up facts", "hallucination"),
        ("let the model call a calculator or a search engine", "tool-use-function-calling"),
        ("a web page hides instructions that hijack my chatbot", "prompt-injection"),
    ],
)
def test_the_issue_examples_are_found(shipped, query, expected):
    assert expected in [key for _, key in rank(query)[:3]]
