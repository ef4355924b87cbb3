"""Readiness pages: who may see what, the htmx tick, targets, and 404s for unknown slugs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.career.readiness_models import ReadinessTick, TargetRole
from apps.career.readiness_services import readiness_tick_set, target_role_add
from tests.career import readiness_support
from tests.career.readiness_support import set_topic, succeeded_job

world = readiness_support.world  # the fixture

INDEX = "/career/readiness/"
ROLE = "/career/readiness/roles/llm-engineer/"
TOGGLE = "/career/readiness/items/meetup/toggle/"
ADD = "/career/readiness/targets/"
REMOVE = "/career/readiness/targets/llm-engineer/remove/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _checked(html: str, slug: str) -> str:
    match = re.search(rf'id="item-{slug}-box"[^>]*aria-checked="(true|false)"', html, re.S)
    assert match, f"no checkbox for {slug}"
    return match.group(1)


def test_urls_are_where_the_templates_expect():
    assert reverse("career:readiness") == INDEX
    assert reverse("career:readiness-role", args=["llm-engineer"]) == ROLE
    assert reverse("career:readiness-item-toggle", args=["meetup"]) == TOGGLE


@pytest.mark.parametrize("url", [INDEX, ROLE])
def test_anonymous_pages_redirect_to_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url", [TOGGLE, ADD, REMOVE])
def test_anonymous_actions_redirect_to_login_and_change_nothing(client, world, url):
    response = client.post(url, {"role": "llm-engineer"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    response = client.post(url, {"role": "llm-engineer"}, **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"].startswith(reverse("login"))
    assert not ReadinessTick.objects.exists() and not TargetRole.objects.exists()


def test_role_page_shows_the_learners_own_readiness(client, world, learner):
    set_topic(learner, world["topics"]["vectors"], "done")
    succeeded_job(learner, world["labs"]["spam-classifier"], metrics={"accuracy": 0.9731})
    readiness_tick_set(user=learner, item=world["items"]["meetup"], ticked=True)
    client.force_login(learner)
    response = client.get(ROLE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Readiness: LLM Engineer" in html
    assert "<strong>36%</strong>" in html  # 40 x 1/3 + 30 x 1/2 + 30 x 1/4
    assert "Quiz mastery" in html and "not counted" in html
    assert "0.9731" in html  # the verified result's metric
    assert _checked(html, "meetup") == "true" and _checked(html, "blog-post") == "false"
    assert 'href="/learn/topics/classic-ml/"' in html  # a next step
    assert 'href="/labs/char-gpt/"' in html


def test_another_learner_never_sees_someone_elses_readiness(client, world, learner, other_learner):
    succeeded_job(learner, world["labs"]["spam-classifier"], metrics={"accuracy": 0.9731})
    readiness_tick_set(user=learner, item=world["items"]["meetup"], ticked=True)
    target_role_add(user=learner, role=world["full"])
    client.force_login(other_learner)
    html = client.get(ROLE).content.decode()
    assert "0.9731" not in html and "No verified results yet" in html
    assert _checked(html, "meetup") == "false"
    assert "<strong>0%</strong>" in html
    assert "Aim for this role" in html  # not their target
    index = client.get(INDEX).content.decode()
    assert "You have not picked a target role yet" in index
    # Ticking as the other learner changes only their own row.
    client.post(TOGGLE, {"role": "llm-engineer"})
    assert set(ReadinessTick.objects.values_list("user__username", flat=True)) == {"lena", "omar"}


@pytest.mark.parametrize("who", ["hiring_manager", "author", "staff"])
def test_other_roles_see_only_their_own_empty_readiness(client, world, learner, request, who):
    succeeded_job(learner, world["labs"]["spam-classifier"], metrics={"accuracy": 0.9731})
    client.force_login(request.getfixturevalue(who))
    html = client.get(ROLE).content.decode()
    assert "0.9731" not in html and "<strong>0%</strong>" in html


def test_htmx_tick_answers_with_the_item_and_the_new_score(client, world, learner):
    client.force_login(learner)
    response = client.post(TOGGLE, {"role": "llm-engineer"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<li class="check-item rd-item is-ticked" id="item-meetup">')
    assert _checked(html, "meetup") == "true"
    assert 'id="readiness-score" aria-labelledby="rd-score-title" hx-swap-oob="true"' in html
    assert "<strong>8%</strong>" in html  # 30 x 1/4
    assert 'id="readiness-next"' in html
    assert ReadinessTick.objects.filter(user=learner, item__slug="meetup").exists()
    # Again: unticked.
    html = client.post(TOGGLE, {"role": "llm-engineer"}, **HTMX).content.decode()
    assert _checked(html, "meetup") == "false" and "<strong>0%</strong>" in html


def test_plain_post_tick_redirects_back_to_the_item(client, world, learner):
    client.force_login(learner)
    response = client.post(TOGGLE, {"role": "llm-engineer"})
    assert response.status_code == 302 and response["Location"] == ROLE + "#item-meetup"
    assert ReadinessTick.objects.filter(user=learner).count() == 1


def test_add_and_remove_a_target_role(client, world, learner):
    client.force_login(learner)
    response = client.post(ADD, {"role": "llm-engineer"})
    assert response.status_code == 302 and response["Location"] == ROLE
    html = client.get(INDEX).content.decode()
    assert 'href="/career/readiness/roles/llm-engineer/"' in html
    assert '<option value="llm-engineer">' not in html  # no longer offered
    assert '<option value="math-role">' in html
    response = client.post(REMOVE)
    assert response.status_code == 302 and response["Location"] == INDEX
    assert not TargetRole.objects.filter(user=learner).exists()


def test_unknown_role_or_item(client, world, learner):
    client.force_login(learner)
    assert client.get("/career/readiness/roles/no-such-role/").status_code == 404
    assert client.post("/career/readiness/items/no-such-item/toggle/").status_code == 404
    assert client.post("/career/readiness/targets/no-such-role/remove/").status_code == 404
    response = client.post(ADD, {"role": "no-such-role"}, follow=True)
    assert "no role called" in response.content.decode()
    assert not TargetRole.objects.exists()
    response = client.post(ADD, {"role": "x\x00y"}, follow=True)
    assert response.status_code == 200 and not TargetRole.objects.exists()


def test_wrong_methods(client, world, learner):
    client.force_login(learner)
    assert client.get(TOGGLE).status_code == 405
    assert client.get(ADD).status_code == 405
    assert client.post(INDEX).status_code == 405


def test_next_redirect_stays_on_site(client, world, learner):
    client.force_login(learner)
    response = client.post(REMOVE, {"next": "https://evil.example/"})
    assert response["Location"] == INDEX


def test_empty_index_teaches(client, world, learner):
    client.force_login(learner)
    html = client.get(INDEX).content.decode()
    assert "You have not picked a target role yet" in html
    assert '<label for="rd-role">' in html


@pytest.mark.parametrize("role", ["x\x00y", "Not A Slug", "a" * 5000, "../../admin"])
def test_tick_with_a_bad_role_field_still_ticks_and_never_errors(client, world, learner, role):
    client.force_login(learner)
    response = client.post(TOGGLE, {"role": role}, **HTMX)
    assert response.status_code == 200
    assert "hx-swap-oob" not in response.content.decode()
    response = client.post(TOGGLE, {"role": role})
    assert response.status_code == 302 and response["Location"] == INDEX + "#item-meetup"
