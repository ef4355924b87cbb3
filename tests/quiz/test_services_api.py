"""Answering through the API and the pages: bad input is a 4xx that says what to do, code is
graded in the sandbox (pending -> graded, claimed once), authors override and regrade with the
history kept, learners re-rate, mock interviews end with a report."""

from __future__ import annotations

import pytest

from apps.quiz import services
from apps.quiz.models import Attempt, Grade, MockSession, Question, ReviewState
from tests.portfolios.conftest import api_as

A = "/api/v1/quiz"


@pytest.fixture
def learner_api(learner):
    return api_as(learner)


def _post(client, data):
    return client.post(f"{A}/attempts/", data, format="json")


def test_empty_answer_scores_zero_with_a_message(bank_once, db, learner_api):
    r = _post(learner_api, {"question": "bias-variance-tradeoff", "answer": "   "})
    assert r.status_code == 201
    assert r.json()["score"] == 0 and "empty" in r.json()["feedback"]
    assert len(r.json()["missed"]) == 5


@pytest.mark.parametrize(
    ("data", "status", "field", "words"),
    [
        ({"question": "bias-variance-tradeoff", "answer": "x" * 8_001}, 413, "answer", "limit is 8,000"),
        ({"question": "stable-softmax-numpy", "answer": "x" * 20_001}, 400, "answer", "20000"),
        ({"question": "numpy-broadcasting", "answer": "7"}, 400, "answer", "Pick one of the choices"),
        ({"question": "numpy-broadcasting", "answer": "zero"}, 400, "answer", "Pick one"),
        ({"question": "no-such-question", "answer": "x"}, 404, None, "No question"),
        ({"question": "bias-variance-tradeoff", "answer": "a\x00b"}, 400, "answer", "NUL"),
        ({"question": "bias-variance-tradeoff"}, 400, "answer", "required"),
        ({"question": "bias-variance-tradeoff", "answer": ["a"]}, 400, "answer", "string"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_saved(bank_once, db, learner_api, data, status, field,
                                                                    words):
    r = _post(learner_api, data)
    assert r.status_code == status, r.content
    body = r.json()
    if field:
        assert field in body, body
    assert words.lower() in str(body).lower(), body
    assert Attempt.objects.count() == 0
    assert ReviewState.objects.count() == 0


def test_text_answer_is_graded_and_scheduled(bank_once, db, learner, learner_api):
    r = _post(learner_api, {"question": "dropout-explained", "answer": "0"})
    assert r.status_code == 201 and r.json()["grader"] == "choice" and r.json()["score"] == 100
    r = _post(learner_api, {"question": "bias-variance-tradeoff",
                            "answer": "Bias is error from a model that is too simple; variance is error from fitting "
                                      "the noise of the training sample. Overfitting shows a low training error but "
                                      "a high validation error."})
    body = r.json()
    assert body["grader"] == "embedding" and 30 <= body["score"] <= 90, body
    assert body["matched"] and body["missed"]
    state = ReviewState.objects.get(user=learner, question__slug="bias-variance-tradeoff")
    assert state.last_score == body["score"] and state.reviews == 1
    assert learner_api.get(f"{A}/attempts/{body['id']}/").json()["score"] == body["score"]
    listed = learner_api.get(f"{A}/attempts/?question=bias-variance-tradeoff").json()
    assert listed["count"] == 1


def test_code_attempt_is_graded_in_the_sandbox_once(bank_once, db, learner, learner_api, no_celery_sends,
                                                    django_capture_on_commit_callbacks):
    question = Question.objects.get(slug="rag-chunking-step")
    with django_capture_on_commit_callbacks(execute=True):
        r = _post(learner_api, {"question": question.slug, "answer": question.solution})
    assert r.status_code == 201 and r.json()["status"] == "pending" and r.json()["score"] is None
    attempt = services.attempt_grade_code(r.json()["id"])
    assert attempt.status == "graded" and attempt.score == 100 and attempt.grader == "sandbox"
    assert services.attempt_grade_code(r.json()["id"]) is None  # a second delivery claims nothing
    body = learner_api.get(f"{A}/attempts/{attempt.pk}/").json()
    assert [t["passed"] for t in body["tests"]] == [True] * 4
    assert ReviewState.objects.get(user=learner, question=question).last_score == 100


def test_failing_code_names_the_failing_test(bank_once, db, learner):
    question = Question.objects.get(slug="rag-chunking-step")
    attempt = services.attempt_submit(user=learner, question=question,
                                      answer="def chunk_words(text, size, overlap):\n    return text.split()\n")
    attempt = services.attempt_grade_code(attempt.pk)
    assert attempt.score == 0
    assert "Failing: overlapping windows" in attempt.feedback
    assert any("AssertionError" in t["error"] for t in attempt.result["tests"])


def test_sandbox_unavailable_fails_the_attempt_readably(bank_once, db, learner, settings):
    settings.LABS_SANDBOX_BACKEND = "no.such.Backend"
    question = Question.objects.get(slug="rag-chunking-step")
    attempt = services.attempt_submit(user=learner, question=question, answer="print(1)")
    attempt = services.attempt_grade_code(attempt.pk)
    assert attempt.status == "failed" and "could not be run" in attempt.feedback
    assert not ReviewState.objects.filter(user=learner).exists()


def test_author_override_and_regrade_keep_the_history(bank_once, db, learner, author):
    question = Question.objects.get(slug="bias-variance-tradeoff")
    attempt = services.attempt_submit(user=learner, question=question, answer="Bias and variance trade off.")
    first = attempt.score
    api_as(author).post(f"{A}/attempts/{attempt.pk}/override/", {"score": 77, "note": "Fair"}, format="json")
    attempt.refresh_from_db()
    assert attempt.score == 77 and attempt.grader == "override"
    # The rubric changes (a new grading version) and the author regrades: a third grade, history intact.
    Question.objects.filter(pk=question.pk).update(
        grading_version=2, key_points=[{"text": "Bias and variance trade off against each other", "weight": 1.0}])
    services.attempt_regrade(attempt=Attempt.objects.get(pk=attempt.pk), reviewer=author)
    attempt.refresh_from_db()
    grades = list(Grade.objects.filter(attempt=attempt).values_list("grader", "score", "grading_version"))
    assert grades[0] == ("embedding", first, 1)
    assert grades[1][:2] == ("override", 77)
    assert grades[2][0] == "embedding" and grades[2][2] == 2
    assert attempt.grading_version == 2 and attempt.score == grades[2][1] > first
    with pytest.raises(services.PermissionDenied):
        services.attempt_override(attempt=attempt, reviewer=learner, score=100)
    r = api_as(author).post(f"{A}/attempts/{attempt.pk}/override/", {"score": 101}, format="json")
    assert r.status_code == 400 and "score" in r.json()


def test_learner_rerates_only_the_latest_attempt(bank_once, db, learner, learner_api):
    q = Question.objects.get(slug="dropout-explained")
    old = services.attempt_submit(user=learner, question=q, answer="1")  # wrong: again
    new = services.attempt_submit(user=learner, question=q, answer="0")  # right: easy
    easy_due = ReviewState.objects.get(user=learner, question=q).due
    r = learner_api.post(f"{A}/attempts/{new.pk}/rating/", {"rating": 2}, format="json")
    assert r.status_code == 200
    assert ReviewState.objects.get(user=learner, question=q).due < easy_due
    r = learner_api.post(f"{A}/attempts/{old.pk}/rating/", {"rating": 4}, format="json")
    assert r.status_code == 409 and "latest" in r.json()["detail"]
    assert learner_api.post(f"{A}/attempts/{new.pk}/rating/", {"rating": 5}, format="json").status_code == 400


def test_mock_interview_mixes_types_and_reports(bank_once, db, learner, learner_api):
    r = learner_api.post(f"{A}/mocks/", {"minutes": 10}, format="json")
    assert r.status_code == 201
    mock = MockSession.objects.get(pk=r.json()["id"])
    categories = [Question.objects.get(pk=pk).category for pk in mock.questions]
    assert {"conceptual", "coding", "system-design", "behavioral", "rapid-fire"} <= set(categories)
    assert len(categories) == 7
    first = Question.objects.get(pk=mock.questions[0])
    answered = _post(learner_api, {"question": first.slug, "answer": "", "mock": mock.pk})
    assert answered.status_code == 201
    again = _post(learner_api, {"question": first.slug, "answer": "", "mock": mock.pk})
    assert again.status_code == 409
    outside = Question.objects.exclude(pk__in=mock.questions).first()
    assert _post(learner_api, {"question": outside.slug, "answer": "x", "mock": mock.pk}).status_code == 400
    report = learner_api.post(f"{A}/mocks/{mock.pk}/finish/").json()
    assert report["status"] == "finished"
    assert report["report"]["answered"] == 1 and report["report"]["total"] == 7
    assert report["report"]["score"] == 0
    assert report["report"]["weakest_topics"] and report["report"]["review_next"]
    late = _post(learner_api, {"question": Question.objects.get(pk=mock.questions[1]).slug, "answer": "x",
                               "mock": mock.pk})
    assert late.status_code == 409 and "ended" in late.json()["detail"]


def test_mock_ends_by_itself_when_time_is_up(bank_once, db, learner, learner_api):
    from datetime import timedelta

    from django.utils import timezone

    mock = services.mock_start(user=learner, minutes=5)
    MockSession.objects.filter(pk=mock.pk).update(started_at=timezone.now() - timedelta(minutes=6))
    body = learner_api.get(f"{A}/mocks/{mock.pk}/").json()
    assert body["status"] == "finished" and body["seconds_left"] == 0


def test_pages_answer_and_show_the_result(bank_once, db, learner, client):
    client.force_login(learner)
    r = client.post("/quiz/q/bias-variance-tradeoff/answer/", {"answer": "x" * 9000})
    assert r.status_code == 413 and "the limit is 8,000" in r.content.decode()
    r = client.post("/quiz/q/numpy-broadcasting/answer/", {"answer": "0"}, follow=True)
    page = r.content.decode()
    assert r.status_code == 200 and 'id="score">100<' in page and "How well did you know it?" in page
    r = client.get("/quiz/queue/")
    assert "numpy-broadcasting" in r.content.decode()
    assert "your last score <strong>100</strong>" in client.get("/quiz/?phase=0").content.decode()
    assert "Your last score: <strong>100</strong> · next review" in client.get(
        "/quiz/q/numpy-broadcasting/").content.decode()
    assert client.get("/quiz/?phase=9").status_code == 400
    assert client.get("/quiz/?category=coding").content.decode().count('class="quiz-item"') >= 6


def test_questions_are_searchable(bank_once, db):
    from apps.core.search.registry import search_source
    from apps.core.search.services import search_index_update

    assert search_source("question") is not None
    assert search_index_update("question") > 0
    from apps.core.search.selectors import search

    hits = search("bias variance trade-off overfitting", kinds=["question"])
    assert hits and hits[0].url == "/quiz/q/bias-variance-tradeoff/"


def test_home_panel_shows_the_due_queue(bank_once, db, learner, hiring_manager, client):
    from datetime import timedelta

    from django.utils import timezone

    client.force_login(learner)
    assert 'id="hp-quiz-queue"' in (home := client.get("/").content.decode()) and "Open the question bank" in home
    q = Question.objects.get(slug="lstm-gates")
    services.attempt_submit(user=learner, question=q, answer="1")  # wrong: due again in minutes
    ReviewState.objects.filter(user=learner).update(due=timezone.now() - timedelta(minutes=1))
    page = client.get("/").content.decode()
    assert "1</strong> question due for review" in page and "/quiz/q/lstm-gates/" in page
    assert "Weakest topics: " in page and "Recurrent networks and LSTMs" in page
    client.force_login(hiring_manager)
    assert 'id="hp-quiz-queue"' not in client.get("/").content.decode()


def test_attempt_partial_for_htmx_polling(bank_once, db, learner, client, no_celery_sends):
    question = Question.objects.get(slug="rag-chunking-step")
    attempt = services.attempt_submit(user=learner, question=question, answer=question.solution)
    client.force_login(learner)
    partial = client.get(f"/quiz/attempts/{attempt.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in partial and "<html" not in partial
    services.attempt_grade_code(attempt.pk)
    done = client.get(f"/quiz/attempts/{attempt.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in done and "4 of 4 hidden tests passed" in done


def test_answers_are_rate_limited_per_learner(bank_once, db, learner, learner_api, settings, no_celery_sends):
    settings.QUIZ_MAX_ATTEMPTS_PER_MINUTE = 3
    for _ in range(3):
        assert _post(learner_api, {"question": "dropout-explained", "answer": "0"}).status_code == 201
    r = _post(learner_api, {"question": "dropout-explained", "answer": "0"})
    assert r.status_code == 429 and r["Retry-After"] == "60" and "wait a minute" in r.json()["detail"]
    settings.QUIZ_MAX_ATTEMPTS_PER_MINUTE = 100
    code = Question.objects.get(slug="lora-trainable-parameters")
    for _ in range(2):
        assert _post(learner_api, {"question": code.slug, "answer": code.solution}).status_code == 201
    r = _post(learner_api, {"question": code.slug, "answer": code.solution})
    assert r.status_code == 429 and "still running" in r.json()["detail"]


def test_stale_attempts_are_regraded_by_the_command(bank_once, db, learner, author):
    from io import StringIO

    from django.core.management import call_command

    q = Question.objects.get(slug="dropout-explained")
    wrong = services.attempt_submit(user=learner, question=q, answer="1")
    overridden = services.attempt_submit(user=learner, question=q, answer="2")
    services.attempt_override(attempt=overridden, reviewer=author, score=40)
    # The author fixes the answer key: choice 1 is the right one now.
    choices = [{"text": c["text"], "correct": i == 1} for i, c in enumerate(q.choices)]
    Question.objects.filter(pk=q.pk).update(choices=choices, grading_version=q.grading_version + 1)
    out = StringIO()
    call_command("quiz_regrade", stdout=out)
    assert out.getvalue().strip() == "quiz: 1 answer regraded"
    wrong.refresh_from_db()
    overridden.refresh_from_db()
    assert wrong.score == 100 and wrong.grading_version == q.grading_version + 1
    assert list(wrong.grades.values_list("score", flat=True)) == [0, 100]
    assert overridden.score == 40
    call_command("quiz_regrade", stdout=out)
    assert out.getvalue().strip().endswith("quiz: 0 answers regraded")


def test_list_pages_and_apis_use_a_fixed_number_of_queries(bank_once, db, learner, client,
                                                           django_assert_max_num_queries):
    for slug in ("dropout-explained", "numpy-broadcasting", "lstm-gates", "relu-vs-sigmoid"):
        services.attempt_submit(user=learner, question=Question.objects.get(slug=slug), answer="0")
    client.force_login(learner)
    for url in ("/quiz/", "/quiz/queue/", "/api/v1/quiz/questions/?page_size=100", "/api/v1/quiz/attempts/",
                "/api/v1/quiz/queue/"):
        with django_assert_max_num_queries(14):
            assert client.get(url).status_code == 200, url


def test_mock_interview_brings_back_weak_answers(bank_once, db, learner):
    weak = Question.objects.get(slug="lstm-gates")
    services.attempt_submit(user=learner, question=weak, answer="1")  # wrong: score 0
    strong = Question.objects.get(slug="dropout-explained")
    services.attempt_submit(user=learner, question=strong, answer="0")  # right: not due for days
    for seed in range(5):
        mock = services.mock_start(user=learner, seed=seed)
        assert weak.pk in mock.questions
        services.mock_finish(mock=mock, user=learner)
