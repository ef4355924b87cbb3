"""Celery tasks for the quiz: thin wrappers that take ids and call services."""

from __future__ import annotations

from celery import shared_task

from apps.quiz.services import TASK_GRADE_CODE, attempt_grade_code


@shared_task(name=TASK_GRADE_CODE, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def attempt_grade_code_task(attempt_id: int) -> str:
    """Run a code attempt's hidden tests in the sandbox (a second delivery does nothing)."""
    return "graded" if attempt_grade_code(attempt_id) is not None else "not claimed"
