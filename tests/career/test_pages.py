"""Career pages: public reading, the learner's own progress, filters that 400 on bad input."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.curriculum.models import Topic, TopicProgress

pytestmark = pytest.mark.usefixtures("catalogue_once", "db")
DASH = "\u2013"  # the en dash the pages put between the ends of a range

PAGES = [
    ("career:index", []),
    ("career:role", ["llm-engineer"]),
    ("career:compare", []),
    ("career:salaries", []),
    ("career:job-ready", []),
    ("career:guide-index", []),
    ("career:guide", ["company-types"]),
]


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_every_page_is_public_and_csp_clean(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    html = response.content.decode()
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_every_page_also_works_for_each_role(client, learner, hiring_manager, author, name, args):
    for user in (learner, hiring_manager, author):
        client.force_login(user)
        assert client.get(reverse(name, args=args)).status_code == 200


def test_index_shows_the_career_tree(client):
    html = client.get(reverse("career:index")).content.decode()
    for text in ("Research track", "Specialist track", "AI Evaluations Engineer", "PhD to frontier lab"):
        assert text in html
    assert reverse("career:role", args=["fine-tuning-specialist"]) in html
    assert 'href="/career/"' in html and "Careers" in html  # the nav link


def test_role_page_lists_topics_and_pay_with_year_and_source(client):
    html = client.get(reverse("career:role", args=["llm-engineer"])).content.decode()
    assert "Prompt anatomy" in html or reverse("curriculum:topic", args=["prompt-anatomy"]) in html
    assert f"$175,000{DASH}$240,000" in html and f"$250,000{DASH}$400,000" in html
    assert "2026 estimate · Source: GenAI Zero to Hero career guide" in html
    assert 'data-grow="' in html
    assert "Log in</a> to see your progress" in html


def test_role_page_shows_only_the_callers_progress(client, learner, other_learner):
    topic = Topic.objects.get(slug="prompt-anatomy")
    TopicProgress.objects.create(user=other_learner, topic=topic, status="done")
    client.force_login(learner)
    assert "You have finished 0 of" in client.get(reverse("career:role", args=["llm-engineer"])).content.decode()
    TopicProgress.objects.create(user=learner, topic=topic, status="done")
    assert "You have finished 1 of" in client.get(reverse("career:role", args=["llm-engineer"])).content.decode()


def test_role_without_own_salary_says_so(client):
    html = client.get(reverse("career:role", args=["ai-consultant"])).content.decode()
    assert "gives no salary figure for this role" in html


def test_unknown_role_and_list_are_404(client):
    assert client.get(reverse("career:role", args=["wizard"])).status_code == 404
    assert client.get(reverse("career:guide", args=["nope"])).status_code == 404


def test_compare_two_roles(client):
    response = client.get(reverse("career:compare"), {"a": "llm-engineer", "b": "rag-knowledge-systems-engineer"})
    assert response.status_code == 200
    html = response.content.decode()
    shared = html.split('id="cmp-shared"')[1].split("</section>")[0]
    assert reverse("curriculum:topic", args=["vector-databases"]) in shared  # both need it
    assert reverse("curriculum:topic", args=["agent-loop"]) not in shared  # LLM engineer only
    assert "$175,000" in html  # the LLM engineer's band


def test_compare_refuses_unknown_or_identical_roles(client):
    response = client.get(reverse("career:compare"), {"a": "llm-engineer", "b": "wizard"})
    assert response.status_code == 400
    assert 'id="b-error"' in response.content.decode()
    response = client.get(reverse("career:compare"), {"a": "llm-engineer", "b": "llm-engineer"})
    assert response.status_code == 400
    assert "Pick a different role" in response.content.decode()


def test_compare_without_choice_shows_the_picker(client):
    html = client.get(reverse("career:compare")).content.decode()
    assert "Pick two roles" in html


def test_salaries_filter_by_region_and_level(client):
    html = client.get(reverse("career:salaries"), {"region": "india"}).content.decode()
    assert "India (Tier 1 cities)" in html and f"$15,000{DASH}$60,000" in html
    assert "London / Berlin" not in html
    html = client.get(reverse("career:salaries"), {"region": "us", "level": "staff"}).content.decode()
    assert "AI/ML Staff Engineer" in html and f"$500,000{DASH}$1,000,000+" in html
    assert "LLM Engineer" not in html.split('id="salary-results"')[1]


def test_every_salary_figure_has_year_and_source(client):
    html = client.get(reverse("career:salaries")).content.decode()
    items = html.split('class="sal-item"')[1:]
    assert len(items) == 10
    for item in items:
        assert "2026 estimate · Source:" in item
    assert f"60{DASH}90% of the US figure" in html


def test_salaries_filter_by_role_and_htmx_partial(client):
    response = client.get(reverse("career:salaries"), {"role": "ai-product-manager"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="salary-results"')
    assert "AI Product Manager" in html and "<html" not in html


@pytest.mark.parametrize("query", [{"region": "mars"}, {"level": "godlike"}, {"role": "wizard"}])
def test_bad_salary_filter_is_400_naming_it(client, query):
    response = client.get(reverse("career:salaries"), query)
    assert response.status_code == 400
    name = next(iter(query))
    assert f"<strong>{name}</strong>" in response.content.decode()


def test_empty_filter_result_teaches(client):
    html = client.get(reverse("career:salaries"), {"region": "india", "level": "staff"}).content.decode()
    assert "No salary figures match" in html


def test_job_ready_page(client):
    html = client.get(reverse("career:job-ready")).content.decode()
    assert "No programming experience" in html and f"18{DASH}24 months" in html
    assert f"2{DASH}4 months" in html


def test_guide_list_pages(client):
    html = client.get(reverse("career:guide", args=["company-types"])).content.decode()
    assert "AI-native startups" in html and "What they build" in html
    html = client.get(reverse("career:guide", args=["resume-keywords"])).content.decode()
    assert "vLLM" in html and "DPO" in html
    html = client.get(reverse("career:guide-index")).content.decode()
    assert "Resume red flags" in html and "Where to find GenAI jobs" in html


def test_pages_refuse_writes(client):
    assert client.post(reverse("career:salaries")).status_code == 405


@pytest.mark.parametrize("url", ["/career/", "/career/salaries/", "/career/roles/llm-engineer/", "/career/guide/"])
def test_pages_use_a_fixed_number_of_queries(client, django_assert_max_num_queries, url):
    # Prefetching keeps these pages from growing a query per role, topic or band.
    with django_assert_max_num_queries(8):
        assert client.get(url).status_code == 200
