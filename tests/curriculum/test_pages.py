from __future__ import annotations

import pytest
from django.urls import reverse

from apps.curriculum.models import (
    ArticleRead,
    ChecklistItem,
    ChecklistTick,
    Phase,
    Resource,
    Topic,
    TopicProgress,
)
from apps.curriculum.services import topic_progress_set

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_roadmap_shows_phases_topics_lanes_milestones_and_checklists(client, loaded):
    response = client.get(reverse("curriculum:roadmap"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Zero to hero in 36 weeks" in html
    assert "Weeks 1\u20134" in html and "Weeks 25\u201336" in html  # en dashes
    for slug in ("vectors", "derivatives", "prompting", "retrieval", "lora", "tool-use", "vision"):
        assert f'href="/learn/topics/{slug}/"' in html
    assert html.count('class="rm-lane"') == 5
    for label in ("Prompt engineering", "Retrieval-augmented generation", "Fine-tuning", "LLM agents", "Multimodal"):
        assert label in html
    assert "Matrix multiplication by hand" in html and "Checklist" in html
    assert "Log in to track progress" in html
    assert 'aria-label="Phase 0: 0 of 2 topics done"' in html


def test_roadmap_draws_the_learners_progress(client, loaded, learner):
    topic_progress_set(learner, Topic.objects.get(slug="vectors"), "done")
    topic_progress_set(learner, Topic.objects.get(slug="derivatives"), "in_progress")
    topic_progress_set(learner, Topic.objects.get(slug="vision"), "skipped")
    client.force_login(learner)
    html = client.get(reverse("curriculum:roadmap")).content.decode()
    assert 'class="rm-node is-done" href="/learn/topics/vectors/"' in html
    assert 'class="rm-node is-in-progress" href="/learn/topics/derivatives/"' in html
    assert 'class="rm-node is-skipped" href="/learn/topics/vision/"' in html
    assert "1 of 7</strong> topics done" in html
    assert "1 of 2 done · 1 in progress" in html
    assert 'aria-label="Phase 0: 1 of 2 topics done"' in html
    assert 'stroke-dasharray="50 100"' in html  # the ring: half of phase 0 is done
    assert "Log in to track progress" not in html


def test_roadmap_query_count_does_not_grow_with_content(client, loaded, learner, django_assert_max_num_queries):
    client.force_login(learner)
    topic_progress_set(learner, Topic.objects.get(slug="vectors"), "done")
    # 12 includes the nav's permission lookup (user and group permissions: 2 queries).
    with django_assert_max_num_queries(12):
        client.get(reverse("curriculum:roadmap"))
    phase = Phase.objects.get(slug="basics")
    for i in range(30):
        topic = Topic.objects.create(phase=phase, slug=f"extra-{i}", title=f"Extra {i}", summary="x", order=10 + i)
        topic_progress_set(learner, topic, "done")
        ChecklistItem.objects.create(phase=phase, slug=f"check-{i}", text="x", order=10 + i)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("curriculum:roadmap"))
    assert "31 of 37</strong> topics done" in response.content.decode()


def test_anonymous_roadmap_queries(client, loaded, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):
        assert client.get(reverse("curriculum:roadmap")).status_code == 200


def test_topic_page(client, loaded):
    html = client.get(reverse("curriculum:topic", args=["derivatives"])).content.decode()
    assert "<h1>Derivatives</h1>" in html
    assert "Gradients explained" in html  # the linked article
    assert 'href="/learn/topics/vectors/"' in html  # prerequisite
    assert 'href="/learn/topics/prompting/"' in html  # leads to
    assert 'data-term="gradient"' in html  # summaries get tooltips too
    assert "Mathematics for Machine Learning" in html
    assert "Log in to track progress" in html


def test_marking_a_topic_works_without_javascript(client, loaded, learner):
    client.force_login(learner)
    url = reverse("curriculum:topic-progress", args=["vectors"])
    response = client.post(url, {"status": "done"})
    assert response.status_code == 302 and response["Location"] == "/learn/topics/vectors/"
    assert TopicProgress.objects.get(user=learner, topic__slug="vectors").status == "done"
    response = client.post(url, {"status": "skipped", "next": "/learn/#phase-0"})
    assert response["Location"] == "/learn/#phase-0"
    response = client.post(url, {"status": "in_progress", "next": "https://evil.example/"})
    assert response["Location"] == "/learn/topics/vectors/"  # no open redirects


def test_marking_a_topic_with_htmx_returns_the_buttons(client, loaded, learner):
    client.force_login(learner)
    response = client.post(reverse("curriculum:topic-progress", args=["vectors"]), {"status": "done"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="topic-progress"' in html and 'data-status="done"' in html
    assert 'value="done" class="" aria-pressed="true"' in html
    assert "<html" not in html


def test_marking_needs_login_and_a_valid_status(client, loaded, learner):
    url = reverse("curriculum:topic-progress", args=["vectors"])
    response = client.post(url, {"status": "done"})
    assert response.status_code == 302 and response["Location"].startswith(
        "/accounts/login/?next=/learn/topics/vectors/"
    )
    response = client.post(url, {"status": "done"}, **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"].startswith("/accounts/login/")
    assert not TopicProgress.objects.exists()
    client.force_login(learner)
    assert client.post(url, {"status": "finished"}).status_code == 400
    assert client.get(url).status_code == 405


def test_phase_page_and_checklist_ticks(client, loaded, learner):
    url = reverse("curriculum:phase", args=["basics"])
    html = client.get(url).content.decode()
    assert "Matrix multiplication by hand" in html and "matches numpy.matmul" in html
    assert "I can multiply two matrices by hand." in html
    client.force_login(learner)
    toggle = reverse("curriculum:checklist-toggle", args=["can-multiply"])
    response = client.post(toggle, **HTMX)
    assert response.status_code == 200 and 'aria-checked="true"' in response.content.decode()
    assert ChecklistTick.objects.filter(user=learner, item__slug="can-multiply").exists()
    response = client.post(toggle)  # without JS: toggles back and returns to the checklist
    assert response.status_code == 302 and response["Location"] == "/learn/phases/basics/#checklist"
    assert not ChecklistTick.objects.exists()
    html = client.get(reverse("curriculum:phase", args=["modern-llms"])).content.decode()
    assert html.count('class="rm-lane"') == 5


def test_article_page(client, loaded, learner):
    response = client.get(reverse("curriculum:article", args=["gradients-explained"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<h1 id="article-title">Gradients explained</h1>' in html
    assert 'href="#section-one"' in html and 'href="#a-sub-heading"' in html  # table of contents
    assert 'role="tooltip"' in html and "curriculum/tooltips.js" in html and "curriculum/pygments.css" in html
    assert 'rel="next"' in html and "LoRA in practice" in html  # next in the same section
    assert "Log in to track progress" in html
    client.force_login(learner)
    done = reverse("curriculum:article-done", args=["gradients-explained"])
    response = client.post(done, {"done": "1"}, **HTMX)
    assert "You marked this article as done" in response.content.decode()
    assert ArticleRead.objects.filter(user=learner, article__slug="gradients-explained").exists()
    assert "✓ Done" in client.get(reverse("curriculum:articles")).content.decode()
    client.post(done, {"done": "0"})
    assert not ArticleRead.objects.exists()


def test_article_index_is_grouped_by_section_and_hides_drafts(client, loaded, learner):
    client.force_login(learner)
    html = client.get(reverse("curriculum:articles")).content.decode()
    assert 'id="core-concepts"' in html and "Core concepts" in html
    assert "Gradients explained" in html
    assert "An unfinished draft" not in html and 'id="faq"' not in html


@pytest.mark.parametrize(
    "url",
    [
        "/learn/topics/no-such-topic/",
        "/learn/phases/no-such-phase/",
        "/learn/articles/no-such-article/",
        "/learn/articles/unfinished-draft/",  # drafts do not exist for readers
        "/learn/resources/no-such-resource/",
    ],
)
def test_unknown_slugs_are_the_sites_404(client, loaded, learner, url):
    for user in (None, learner):
        if user:
            client.force_login(user)
        response = client.get(url)
        assert response.status_code == 404
        assert "We could not find that page" in response.content.decode()


def test_drafts_are_visible_to_authors(client, loaded, author):
    client.force_login(author)
    response = client.get("/learn/articles/unfinished-draft/")
    assert response.status_code == 200 and "Draft: only authors can see this article" in response.content.decode()


def test_glossary_page(client, loaded):
    html = client.get(reverse("curriculum:glossary")).content.decode()
    assert 'href="#letter-G"' in html and 'id="letter-G"' in html
    assert '<span aria-disabled="true">Z</span>' in html
    assert 'id="kv-cache"' in html and "also: backprop" in html
    assert html.index('id="backpropagation"') < html.index('id="embedding"') < html.index('id="gradient"')


def test_resources_filters_and_pagination(client, loaded):
    url = reverse("curriculum:resources")
    html = client.get(url).content.decode()
    assert "3 resources" in html and "Mathematics for Machine Learning" in html
    html = client.get(url, {"kind": "paper"}).content.decode()
    assert "1 resource match" in html and "LoRA: Low-Rank" in html and "Mathematics for" not in html
    html = client.get(url, {"cost": "paid"}).content.decode()
    assert "A paid course" in html and "LoRA: Low-Rank" not in html
    html = client.get(url, {"kind": "book", "cost": "paid"}).content.decode()
    assert "No resources match these filters" in html
    html = client.get(url, {"kind": "nonsense"}).content.decode()  # a bad filter shows everything
    assert "3 resources" in html
    response = client.get(url, {"kind": "paper"}, **HTMX)
    assert response.content.decode().startswith('<div id="resource-results"')

    for i in range(25):
        Resource.objects.create(
            slug=f"r-{i:02}", title=f"Resource {i:02}", kind="podcast", cost="free", url="https://example.com/"
        )
    html = client.get(url, {"kind": "podcast"}).content.decode()
    assert "Page 1 of 2" in html and 'href="?kind=podcast&amp;page=2"' in html
    html = client.get(url, {"kind": "podcast", "page": "2"}).content.decode()
    assert "Resource 24" in html and "Resource 00" not in html


def test_resource_page(client, loaded):
    html = client.get(reverse("curriculum:resource", args=["lora-paper"])).content.decode()
    assert "https://arxiv.org/abs/2106.09685" in html and 'href="/learn/topics/lora/"' in html


def test_progress_of_other_users_is_not_shown(client, loaded, learner, other_learner):
    topic_progress_set(other_learner, Topic.objects.get(slug="vectors"), "done")
    client.force_login(learner)
    html = client.get(reverse("curriculum:roadmap")).content.decode()
    assert "0 of 7</strong> topics done" in html and "is-done" not in html.split("rm-path")[1]
    html = client.get(reverse("curriculum:topic", args=["vectors"])).content.decode()
    assert 'data-status="not_started"' in html
