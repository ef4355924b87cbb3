from __future__ import annotations

import pytest
import yaml

from apps.curriculum.models import Article, ChecklistTick, Topic, TopicProgress
from apps.curriculum.services import article_update, topic_progress_set

pytestmark = pytest.mark.django_db

API = "/api/v1/curriculum"


def test_schema_lists_every_endpoint(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    paths = yaml.safe_load(response.content)["paths"]
    for path in (
        "phases/",
        "phases/{slug}/",
        "topics/",
        "topics/{slug}/",
        "articles/",
        "articles/{slug}/",
        "articles/{slug}/publish/",
        "articles/{slug}/unpublish/",
        "articles/{slug}/revisions/",
        "articles/{slug}/revisions/{version}/restore/",
        "glossary/",
        "glossary/{slug}/",
        "resources/",
        "resources/{slug}/",
        "progress/",
        "progress/topics/{slug}/",
        "progress/checklist/{slug}/",
    ):
        assert f"{API}/{path}" in paths, path
    article = paths[f"{API}/articles/{{slug}}/"]
    assert "409" in article["patch"]["responses"]
    assert {p["name"] for p in paths[f"{API}/resources/"]["get"]["parameters"]} >= {"kind", "cost", "topic", "page"}


def test_phases_and_topics(api_client, loaded):
    data = api_client.get(f"{API}/phases/").json()
    assert data["count"] == 2
    assert [t["slug"] for t in data["results"][0]["topics"]] == ["vectors", "derivatives"]
    phase = api_client.get(f"{API}/phases/basics/").json()
    assert phase["milestone_projects"][0]["success_criteria"] == ["matches numpy.matmul"]
    assert [c["slug"] for c in phase["checklist"]] == ["can-multiply", "can-differentiate"]
    topics = api_client.get(f"{API}/topics/", {"sub_track": "rag"}).json()
    assert [t["slug"] for t in topics["results"]] == ["retrieval"]
    topic = api_client.get(f"{API}/topics/derivatives/").json()
    assert topic["prerequisites"] == ["vectors"] and topic["article"] == "gradients-explained"
    assert api_client.get(f"{API}/topics/", {"sub_track": "cooking"}).status_code == 400


def test_articles_for_readers(api_client, loaded):
    listing = api_client.get(f"{API}/articles/").json()
    assert {a["slug"] for a in listing["results"]} == {"gradients-explained", "lora-in-practice"}
    detail = api_client.get(f"{API}/articles/gradients-explained/").json()
    assert 'role="tooltip"' in detail["html"] and detail["toc"][0] == {
        "level": 2,
        "id": "section-one",
        "title": "Section one",
    }
    assert detail["version"] == 1 and detail["topics"] == ["derivatives"]
    assert api_client.get(f"{API}/articles/unfinished-draft/").status_code == 404
    assert api_client.get(f"{API}/articles/nope/").status_code == 404
    assert api_client.get(f"{API}/articles/", {"section": "poetry"}).status_code == 400


def test_authors_see_drafts(api_client, loaded, author):
    api_client.force_authenticate(author)
    listing = api_client.get(f"{API}/articles/", {"status": "draft"}).json()
    assert [a["slug"] for a in listing["results"]] == ["unfinished-draft"]
    assert api_client.get(f"{API}/articles/unfinished-draft/").status_code == 200


def test_author_writes_through_the_api(api_client, loaded, author, search_calls):
    api_client.force_authenticate(author)
    created = api_client.post(
        f"{API}/articles/",
        {
            "slug": "kv-caching",
            "title": "KV caching",
            "section": "core-concepts",
            "summary": "Why it is fast.",
            "body": "## Cache\n\nReuse keys.\n",
            "topics": ["lora"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "draft" and created.json()["version"] == 1

    updated = api_client.patch(
        f"{API}/articles/kv-caching/", {"expected_version": 1, "title": "KV caching, explained"}, format="json"
    )
    assert updated.status_code == 200 and updated.json()["version"] == 2
    assert Article.objects.get(slug="kv-caching").body == "## Cache\n\nReuse keys.\n"  # untouched fields stay

    conflict = api_client.patch(f"{API}/articles/kv-caching/", {"expected_version": 1, "body": "Stale."}, format="json")
    assert conflict.status_code == 409
    body = conflict.json()
    assert body["current_version"] == 2 and body["updated_by"] == "ada"
    assert body["detail"].startswith("Someone else saved this article while you were editing (version 2 by ada")

    published = api_client.post(f"{API}/articles/kv-caching/publish/")
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert ("article", ["kv-caching"]) in search_calls
    revisions = api_client.get(f"{API}/articles/kv-caching/revisions/").json()
    assert [r["version"] for r in revisions["results"]] == [2, 1]
    restored = api_client.post(
        f"{API}/articles/kv-caching/revisions/1/restore/", {"expected_version": 2}, format="json"
    )
    assert restored.status_code == 200 and restored.json()["version"] == 3 and restored.json()["title"] == "KV caching"
    assert (
        api_client.post(
            f"{API}/articles/kv-caching/revisions/9/restore/", {"expected_version": 3}, format="json"
        ).status_code
        == 404
    )
    assert api_client.post(f"{API}/articles/kv-caching/unpublish/").json()["status"] == "draft"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "Bad Slug", "title": "t", "section": "faq", "summary": "s", "body": "b"}, "slug"),
        ({"slug": "ok", "title": "t", "section": "nope", "summary": "s", "body": "b"}, "section"),
        ({"slug": "ok", "title": "t", "section": "faq", "summary": "s"}, "body"),
        ({"slug": "ok", "title": "t", "section": "faq", "summary": "s", "body": "b", "topics": ["ghost"]}, "topics"),
        ({"slug": "lora-in-practice", "title": "t", "section": "faq", "summary": "s", "body": "b"}, "slug"),
    ],
)
def test_bad_article_input_is_a_400(api_client, loaded, author, payload, field):
    api_client.force_authenticate(author)
    response = api_client.post(f"{API}/articles/", payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()


def test_update_needs_expected_version(api_client, loaded, author):
    api_client.force_authenticate(author)
    response = api_client.patch(f"{API}/articles/lora-in-practice/", {"title": "x"}, format="json")
    assert response.status_code == 400 and "expected_version" in response.json()


def test_learners_and_anonymous_cannot_write(api_client, loaded, learner):
    payload = {"slug": "x", "title": "t", "section": "faq", "summary": "s", "body": "b"}
    for user in (None, learner):
        api_client.force_authenticate(user)
        # Anonymous: 401 (token auth asks for credentials); a learner: 403.
        denied = (401, 403) if user is None else (403,)
        assert api_client.post(f"{API}/articles/", payload, format="json").status_code in denied
        edit = {"expected_version": 1, "title": "x"}
        assert api_client.patch(f"{API}/articles/lora-in-practice/", edit, format="json").status_code in denied
        assert api_client.post(f"{API}/articles/unfinished-draft/publish/").status_code in denied
        assert api_client.post(f"{API}/articles/lora-in-practice/unpublish/").status_code in denied
        assert api_client.get(f"{API}/articles/lora-in-practice/revisions/").status_code in denied
        restore = api_client.post(f"{API}/articles/lora-in-practice/revisions/1/restore/", {"expected_version": 1})
        assert restore.status_code in denied
    assert not Article.objects.filter(slug="x").exists()
    assert Article.objects.get(slug="unfinished-draft").status == "draft"
    assert Article.objects.get(slug="lora-in-practice").version == 1


def test_glossary_and_resources(api_client, loaded):
    terms = api_client.get(f"{API}/glossary/").json()
    assert [t["slug"] for t in terms["results"]][:2] == ["backpropagation", "embedding"]
    assert api_client.get(f"{API}/glossary/kv-cache/").json()["term"] == "KV cache"
    assert api_client.get(f"{API}/glossary/nope/").status_code == 404
    free_papers = api_client.get(f"{API}/resources/", {"kind": "paper", "cost": "free"}).json()
    assert [r["slug"] for r in free_papers["results"]] == ["lora-paper"]
    by_topic = api_client.get(f"{API}/resources/", {"topic": "vectors"}).json()
    assert [r["slug"] for r in by_topic["results"]] == ["math-for-ml"]
    bad = api_client.get(f"{API}/resources/", {"kind": "video"})
    assert bad.status_code == 400 and "kind" in bad.json()
    paged = api_client.get(f"{API}/resources/", {"page_size": 1, "page": 2}).json()
    assert paged["count"] == 3 and len(paged["results"]) == 1 and paged["next"] and paged["previous"]
    assert api_client.get(f"{API}/resources/nope/").status_code == 404


def test_learners_own_progress(api_client, loaded, learner, other_learner):
    topic_progress_set(other_learner, Topic.objects.get(slug="lora"), "done")
    assert api_client.get(f"{API}/progress/").status_code in (401, 403)
    assert api_client.put(f"{API}/progress/topics/vectors/", {"status": "done"}, format="json").status_code in (
        401,
        403,
    )

    api_client.force_authenticate(learner)
    assert api_client.get(f"{API}/progress/topics/vectors/").json() == {"topic": "vectors", "status": "not_started"}
    response = api_client.put(f"{API}/progress/topics/vectors/", {"status": "done"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "done"
    bad = api_client.put(f"{API}/progress/topics/vectors/", {"status": "finished"}, format="json")
    assert bad.status_code == 400 and "status" in bad.json()
    assert api_client.put(f"{API}/progress/topics/ghost/", {"status": "done"}, format="json").status_code == 404

    assert api_client.post(f"{API}/progress/checklist/can-multiply/").status_code == 201
    assert api_client.post(f"{API}/progress/checklist/can-multiply/").status_code == 201  # idempotent
    assert ChecklistTick.objects.filter(user=learner).count() == 1
    assert api_client.post(f"{API}/progress/checklist/ghost/").status_code == 404

    mine = api_client.get(f"{API}/progress/").json()
    assert mine["topics"] == {"vectors": "done"}  # not the other learner's "lora"
    assert mine["checklist"] == ["can-multiply"]
    basics = next(p for p in mine["phases"] if p["slug"] == "basics")
    assert (basics["done"], basics["total"], basics["checklist_done"]) == (1, 2, 1)

    assert api_client.delete(f"{API}/progress/checklist/can-multiply/").status_code == 204
    assert not ChecklistTick.objects.filter(user=learner).exists()
    assert TopicProgress.objects.get(user=other_learner).status == "done"


def test_article_update_after_a_load_is_a_conflict_for_stale_clients(api_client, loaded, author):
    article = Article.objects.get(slug="lora-in-practice")
    article_update(article, user=author, expected_version=1, title="New title")
    api_client.force_authenticate(author)
    response = api_client.patch(
        f"{API}/articles/lora-in-practice/", {"expected_version": 1, "title": "Mine"}, format="json"
    )
    assert response.status_code == 409
