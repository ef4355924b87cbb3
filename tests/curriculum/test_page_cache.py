"""Hot pages cached per content generation and progress: cheap, and never stale or shared wrongly."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.curriculum.api.views import TopicOutput, topic_representations
from apps.curriculum.models import Article, ChecklistItem, Topic
from apps.curriculum.selectors import progress_overlay, topic_rows
from apps.curriculum.services import checklist_item_toggle, topic_progress_set
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

ROADMAP = reverse("curriculum:roadmap")


def topic_url(slug: str) -> str:
    return reverse("curriculum:topic", args=[slug])


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Queries: a fixed, small number per hot page once its fragments are cached ------------


@pytest.mark.parametrize(("page", "expected"), [(ROADMAP, 0), (topic_url("derivatives"), 1)])
def test_cached_hot_pages_for_a_visitor_make_a_fixed_number_of_queries(
    loaded, django_assert_num_queries, page, expected
):
    client = Client()
    assert client.get(page).status_code == 200  # fills the fragments
    # roadmap: none; topic: its id and title (the 404 check)
    with django_assert_num_queries(expected):
        client.get(page)


# the user (session and permissions come from the cache), roles, the progress overlay, the
# quiz mastery; the topic page adds its id and title
@pytest.mark.parametrize(("page", "expected"), [(ROADMAP, 4), (topic_url("derivatives"), 5)])
def test_cached_hot_pages_for_a_learner_make_a_fixed_number_of_queries(
    loaded, learner, django_assert_num_queries, page, expected
):
    client = signed_in(learner)
    assert client.get(page).status_code == 200
    with django_assert_num_queries(expected):
        client.get(page)


def test_a_cached_roadmap_is_the_page_rendered_fresh(loaded, learner):
    topic_progress_set(learner, Topic.objects.get(slug="vectors"), "done")
    client = signed_in(learner)
    fresh = client.get(ROADMAP).content
    cached = client.get(ROADMAP).content
    strip = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"|"X-CSRFToken": "[^"]+"')
    assert strip.sub(b"", fresh) == strip.sub(b"", cached)


# --- Never stale: progress and content changes show at once ------------------------------


def test_the_learners_own_changes_show_at_once(loaded, learner):
    client = signed_in(learner)
    assert 'aria-label="Phase 0: 0 of 2 topics done"' in client.get(ROADMAP).content.decode()
    topic_progress_set(learner, Topic.objects.get(slug="vectors"), "done")
    assert 'aria-label="Phase 0: 1 of 2 topics done"' in client.get(ROADMAP).content.decode()
    # The topic page's "before this" list draws the prerequisite's status.
    assert "is-done" in client.get(topic_url("derivatives")).content.decode().split("Before this")[1]
    before = progress_overlay(learner).digest
    checklist_item_toggle(learner, ChecklistItem.objects.first())
    assert progress_overlay(learner).digest != before


def test_an_authors_edits_show_at_once(loaded, learner):
    client = signed_in(learner)
    assert "Vectors" in client.get(ROADMAP).content.decode()
    topic = Topic.objects.get(slug="vectors")
    topic.title = "Vectors and spaces"
    topic.save()
    assert "Vectors and spaces" in client.get(ROADMAP).content.decode()
    assert "Vectors and spaces" in Client().get(ROADMAP).content.decode()
    # A relation (no row of the topic itself changes) is content too.
    derivatives = Topic.objects.get(slug="derivatives")
    side = client.get(topic_url("derivatives")).content.decode().split("Before this")[1]
    assert "Vectors and spaces" in side
    derivatives.prerequisites.clear()
    assert "Before this" not in client.get(topic_url("derivatives")).content.decode()


def test_a_deleted_topic_is_404_although_its_page_was_cached(loaded):
    assert Client().get(topic_url("vectors")).status_code == 200
    topic = Topic.objects.get(slug="vectors")
    topic.unlocks.clear()
    topic.delete()
    assert Client().get(topic_url("vectors")).status_code == 404


# --- Shared fragments never carry someone else's token or drafts ---------------------------


def test_two_learners_with_the_same_progress_each_get_their_own_working_form(loaded):
    first, second = make_user("first"), make_user("second")
    for user in (first, second):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        page = client.get(topic_url("vectors")).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        response = client.post(
            reverse("curriculum:topic-progress", args=["vectors"]), {"status": "done", "csrfmiddlewaretoken": token}
        )
        assert response.status_code == 302, "the form's CSRF token must be this visitor's own"
        assert progress_overlay(user).statuses == {Topic.objects.get(slug="vectors").id: "done"}


def test_drafts_in_a_topics_reading_list_reach_authors_only(loaded, author):
    topic = Topic.objects.get(slug="derivatives")
    draft = Article.objects.get(slug="unfinished-draft")
    draft.topics.add(topic)
    reader_page = Client().get(topic_url("derivatives")).content.decode()
    author_page = signed_in(author).get(topic_url("derivatives")).content.decode()
    assert draft.title not in reader_page
    assert draft.title in author_page
    assert draft.title not in Client().get(topic_url("derivatives")).content.decode()


# --- API: rows shaped like the serializer, cached with an ETag -----------------------------


def test_topic_rows_represent_exactly_what_the_serializer_documents(loaded):
    topics = Topic.objects.order_by("phase__number", "order").select_related("phase", "article")
    assert topic_representations(list(topic_rows())) == TopicOutput(topics, many=True).data


def test_unchanged_lists_cost_a_304_and_a_change_a_new_etag(loaded, django_assert_num_queries):
    client = Client()
    url = reverse("api-curriculum-topics")
    first = client.get(url)
    etag = first["ETag"]
    assert first.status_code == 200 and etag
    with django_assert_num_queries(0):
        not_modified = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    topic = Topic.objects.get(slug="vectors")
    topic.summary = "Changed."
    topic.save()
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert "Changed." in changed.content.decode()


def test_cached_api_reads_keep_readers_and_authors_apart(loaded, author):
    url = reverse("api-curriculum-articles")
    reader_slugs = lambda: {a["slug"] for a in Client().get(url).json()["results"]}  # noqa: E731
    assert "unfinished-draft" not in reader_slugs()
    author_response = signed_in(author).get(url)
    assert "unfinished-draft" in {a["slug"] for a in author_response.json()["results"]}
    assert "unfinished-draft" not in reader_slugs()
    assert "Cookie" in author_response["Vary"]


def test_bad_filters_are_400_and_not_cached(loaded):
    url = reverse("api-curriculum-topics") + "?sub_track=nonsense"
    assert Client().get(url).status_code == 400
    assert Client().get(url).status_code == 400


# --- Articles: the body cached, the reader's own box live ---------------------------------

ARTICLE = reverse("curriculum:article", args=["gradients-explained"])


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 1), ("learner", 4)])
def test_a_cached_article_makes_a_fixed_number_of_queries(loaded, learner, django_assert_num_queries, who, expected):
    # anonymous: the article's head (visibility, 404); a learner adds user, roles, "read?"
    client = signed_in(learner) if who == "learner" else Client()
    first = client.get(ARTICLE)
    assert first.status_code == 200 and "min read" in first.content.decode()
    with django_assert_num_queries(expected):
        again = client.get(ARTICLE)
    assert "Gradients" in again.content.decode()


def test_an_articles_cached_page_follows_reads_and_edits(loaded, learner, author):
    client = signed_in(learner)
    assert "Mark as done" in client.get(ARTICLE).content.decode()
    client.post(reverse("curriculum:article-done", args=["gradients-explained"]), {"done": "1"})
    assert "You marked this article as done" in client.get(ARTICLE).content.decode()
    article = Article.objects.get(slug="gradients-explained")
    article.body = article.body + "\n\nA sentence added by an author.\n"
    article.save()
    assert "A sentence added by an author." in client.get(ARTICLE).content.decode()
    assert ">Edit<" not in client.get(ARTICLE).content.decode()
    assert ">Edit<" in signed_in(author).get(ARTICLE).content.decode()


# --- The other hot pages: a fixed number of queries, whatever the content's size -----------


@pytest.mark.parametrize(
    ("page", "anonymous_queries", "learner_queries"),
    [
        # the roadmap's structure comes from the cache; the glossary version, the progress
        # and the quiz mastery
        (reverse("curriculum:phase", args=["basics"]), 1, 5),
        # a repeated query: its results come from the cache (until the index is written);
        # a learner adds user and roles
        (reverse("search") + "?q=gradient", 0, 2),
    ],
)
def test_phase_and_search_pages_make_a_fixed_number_of_queries(
    loaded, learner, django_assert_num_queries, page, anonymous_queries, learner_queries
):
    for client, expected in ((Client(), anonymous_queries), (signed_in(learner), learner_queries)):
        assert client.get(page).status_code == 200
        with django_assert_num_queries(expected):
            assert client.get(page).status_code == 200


def test_quiz_mastery_shows_on_the_roadmap_topic_it_belongs_to(loaded, learner):
    from apps.quiz.models import Question
    from apps.quiz.services import attempt_submit

    question = Question.objects.create(
        slug="vectors-quick", category="rapid-fire", difficulty="easy", phase=0, prompt="Is a vector a list?",
        model_answer="Yes.", choices=[{"text": "Yes", "correct": True}, {"text": "No", "correct": False}],
    )  # fmt: skip
    question.topics.add(Topic.objects.get(slug="vectors"))
    client = signed_in(learner)
    assert "quiz mastery" not in client.get(ROADMAP).content.decode()
    attempt_submit(user=learner, question=question, answer="0")  # right: 100, recalled just now
    page = client.get(ROADMAP).content.decode()
    vectors = page.split('data-topic="vectors"')[1].split("</li>")[0]
    assert re.search(r'class="rm-mastery"[^>]*>(9\d|100)%', vectors), vectors
    assert "rm-mastery" not in page.split('data-topic="derivatives"')[1].split("</li>")[0]
