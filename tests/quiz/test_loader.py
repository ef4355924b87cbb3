"""The question bank loads through load_content's contract: validated first (a bad entry names
file and line, nothing written), idempotent, upserts by slug, grading changes bump the version."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.errors import ApplicationError
from apps.curriculum.loader import curriculum_load
from apps.quiz.loader import quiz_load
from apps.quiz.models import Attempt, Category, Question
from tests.quiz.conftest import CONTENT


@pytest.fixture
def quiz_dir(tmp_path, db) -> Path:
    curriculum_load(CONTENT)
    root = tmp_path / "content"
    shutil.copytree(CONTENT / "quiz", root / "quiz")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_loader_runs_after_the_curriculum():
    loaders = settings.CONTENT_LOADERS
    assert loaders.index("apps.quiz.loader.quiz_load") > loaders.index("apps.curriculum.loader.curriculum_load")


def test_shipped_bank_covers_every_phase_and_type(bank):
    per_phase = Counter(Question.objects.values_list("phase", flat=True))
    assert all(per_phase[p] >= 8 for p in range(6)), per_phase
    for phase in range(6):
        kinds = set(Question.objects.filter(phase=phase).values_list("category", flat=True))
        assert {Category.CONCEPTUAL, Category.CODING, Category.RAPID_FIRE} <= kinds, (phase, kinds)
    # Every coding question is answered in code and graded by running its hidden tests.
    coding = Question.objects.filter(category=Category.CODING)
    assert coding.count() >= 9
    for q in coding:
        assert q.answer_kind == "code" and q.tests and q.solution, q.slug
    # Every rapid-fire question that offers choices has exactly one right answer.
    for q in Question.objects.exclude(choices=[]):
        assert sum(c["correct"] for c in q.choices) == 1, q.slug
    # The guide's interview items are all there.
    for slug in ("transformer-vs-rnn", "rag-vs-fine-tuning", "design-customer-support-llm", "staying-current",
                 "rapid-constitutional-ai", "implement-lora-layer"):
        assert Question.objects.filter(slug=slug).exists(), slug


def test_second_load_changes_nothing(bank):
    ids = dict(Question.objects.values_list("slug", "id"))
    assert quiz_load(CONTENT).endswith("(0 changed)")
    assert dict(Question.objects.values_list("slug", "id")) == ids


def test_bad_entry_names_file_and_line_and_writes_nothing(quiz_dir):
    path = quiz_dir / "quiz" / "questions.yaml"
    _edit(path, "  category: conceptual\n", "  category: trivia\n")
    with pytest.raises(ApplicationError) as exc:
        quiz_load(quiz_dir)
    assert "content/quiz/questions.yaml, line 6" in exc.value.message
    assert "'category' is 'trivia'" in exc.value.message
    assert Question.objects.count() == 0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("topics: [lora-qlora]\n", "topics: [no-such-topic]\n", "is not a roadmap topic"),
        ("    - text: (32, 64)\n      correct: true\n", "    - text: (32, 64)\n", "exactly one choice must be correct"),
        ("        assert lora_params([(4096, 4096)], 8) == 65536", "        assert lora_params(", "not valid Python"),
    ],
)
def test_invalid_content_is_refused(quiz_dir, old, new, message):
    _edit(quiz_dir / "quiz" / "questions.yaml", old, new)
    with pytest.raises(ApplicationError, match=message):
        quiz_load(quiz_dir)


def test_coding_question_without_hidden_tests_is_refused(quiz_dir):
    # A coding question is never graded on its text: without tests, a reference and a
    # broken solution it does not load.
    _edit(quiz_dir / "quiz" / "questions.yaml", "  category: conceptual\n", "  category: coding\n")
    with pytest.raises(ApplicationError) as exc:
        quiz_load(quiz_dir)
    message = exc.value.message
    assert "content/quiz/questions.yaml, line 5" in message, message
    for missing in ("needs hidden 'tests'", "needs a 'solution'", "needs a 'broken_solution'"):
        assert f"question 'transformer-vs-rnn': a coding question {missing}" in message, message
    assert Question.objects.count() == 0


def test_grading_change_bumps_version_and_keeps_answered_questions(quiz_dir, learner):
    quiz_load(quiz_dir)
    q = Question.objects.get(slug="rapid-temperature")
    assert q.grading_version == 1
    Attempt.objects.create(user=learner, question=q, answer="x", score=10)
    path = quiz_dir / "quiz" / "questions.yaml"
    _edit(path, "    - Temperature 0 is greedy and deterministic\n", "    - Temperature 0 means greedy decoding\n")
    assert quiz_load(quiz_dir).endswith("(1 changed)")
    q.refresh_from_db()
    assert q.grading_version == 2
    # A prompt-only edit does not change how answers are graded.
    _edit(path, "What is temperature in LLM inference?", "What does temperature do in LLM inference?")
    quiz_load(quiz_dir)
    q.refresh_from_db()
    assert q.grading_version == 2
    # Removing the answered question from the file keeps it (its attempts point at it).
    text = path.read_text()
    start = text.index("- slug: rapid-temperature")
    end = text.index("- slug:", start + 5)
    path.write_text(text[:start] + text[end:])
    quiz_load(quiz_dir)
    assert Question.objects.filter(slug="rapid-temperature").exists()
