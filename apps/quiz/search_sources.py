"""Questions in the site search (registered in ``QuizConfig.ready``): the question and its
model answer are indexed; results link to the practice page."""

from __future__ import annotations

from collections.abc import Iterator

from apps.core.search.registry import SearchDocument, register_search_source
from apps.quiz.models import Question


def _document(question: Question) -> SearchDocument:
    return SearchDocument(
        kind="question",
        key=question.slug,
        title=question.title,
        url=question.get_absolute_url(),
        body=f"{question.prompt}\n\n{question.model_answer}",
        summary=f"{question.get_category_display()} · {question.get_difficulty_display()} · phase {question.phase}",
    )


def question_documents() -> Iterator[SearchDocument]:
    for question in Question.objects.order_by("pk").iterator():
        yield _document(question)


def question_document(key: str) -> SearchDocument | None:
    question = Question.objects.filter(slug=key).first()
    return _document(question) if question is not None else None


def register() -> None:
    register_search_source("question", question_documents, question_document)
