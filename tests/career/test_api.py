"""Career API: public reads, filters, and bad filters answered 400 naming the filter."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("catalogue_once", "db")


def test_roles_list_with_topics(api_client):
    response = api_client.get("/api/v1/career/roles/", {"page_size": 100})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 14
    llm = next(r for r in body["results"] if r["slug"] == "llm-engineer")
    assert llm["track"] == "engineering"
    assert "prompt-anatomy" in {t["slug"] for t in llm["topics"]}
    assert llm["url"] == "/career/roles/llm-engineer/"


def test_roles_filter_by_track(api_client):
    body = api_client.get("/api/v1/career/roles/", {"track": "product"}).json()
    assert {r["slug"] for r in body["results"]} == {"ai-product-manager", "ai-solutions-architect", "ai-consultant"}


def test_role_detail_has_salaries_with_year_and_source(api_client):
    body = api_client.get("/api/v1/career/roles/ai-research-scientist/").json()
    [band] = body["salaries"]
    assert (band["total_max"], band["open_ended"], band["year"]) == (700000, True, 2026)
    assert band["source"].startswith("GenAI Zero to Hero career guide")


def test_unknown_role_is_404(api_client):
    response = api_client.get("/api/v1/career/roles/wizard/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_salaries_filters(api_client):
    body = api_client.get("/api/v1/career/salaries/", {"region": "europe"}).json()
    assert {b["region_label"] for b in body["results"]} == {"London / Berlin", "Paris / Amsterdam"}
    body = api_client.get("/api/v1/career/salaries/", {"role": "ai-ml-engineer"}).json()
    assert {b["level"] for b in body["results"]} == {"junior", "staff"}
    body = api_client.get("/api/v1/career/salaries/", {"region": "us", "level": "mid"}).json()
    assert {b["role_slug"] for b in body["results"]} == {"llm-engineer", "mlops-llmops-engineer"}
    body = api_client.get("/api/v1/career/salaries/", {"region": "remote"}).json()
    assert body["results"][0]["pct_of_us_min"] == 60 and body["results"][0]["base_min"] is None
    # An empty value is "no filter", as an HTML form sends it.
    assert api_client.get("/api/v1/career/salaries/", {"region": ""}).json()["count"] == 10


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"region": "mars"}, "region"),
        ({"level": "godlike"}, "level"),
        ({"role": "wizard"}, "role"),
        ({"role": "not a slug"}, "role"),
        ({"regoin": "us"}, "regoin"),
        ({"role": "llm\x00"}, "role"),
        ({"page": "0"}, "page"),
    ],
)
def test_bad_salary_filter_is_400_naming_it(api_client, query, field):
    response = api_client.get("/api/v1/career/salaries/", query)
    assert response.status_code == 400
    assert field in response.json()


def test_bad_track_filter_is_400(api_client):
    response = api_client.get("/api/v1/career/roles/", {"track": "sales"})
    assert response.status_code == 400
    assert "track" in response.json()


def test_job_ready_and_guide_lists(api_client):
    body = api_client.get("/api/v1/career/job-ready/").json()
    assert [e["slug"] for e in body["results"]][:2] == ["no-programming", "software-engineer"]
    body = api_client.get("/api/v1/career/guide-lists/").json()
    flags = next(g for g in body["results"] if g["slug"] == "resume-red-flags")
    assert len(flags["entries"]) == 3 and flags["detail_label"] == "What to do instead"


def test_api_is_read_only(api_client, learner):
    api_client.force_authenticate(learner)
    assert api_client.post("/api/v1/career/salaries/", {}).status_code == 405


def test_schema_lists_the_career_operations(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    salaries = schema["paths"]["/api/v1/career/salaries/"]["get"]
    assert {p["name"] for p in salaries["parameters"]} >= {"region", "level", "role", "page", "page_size"}
    assert "400" in salaries["responses"]
    assert "/api/v1/career/roles/{slug}/" in schema["paths"]


def test_catalogue_reads_are_cached_until_the_catalogue_changes(api_client, django_assert_num_queries):
    from apps.career.models import Role, SalaryBand

    url = "/api/v1/career/roles/"
    first = api_client.get(url, {"page_size": 100})
    with django_assert_num_queries(0):
        again = api_client.get(url, {"page_size": 100})
        unchanged = api_client.get(url, {"page_size": 100}, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.json() == first.json() and unchanged.status_code == 304
    role = Role.objects.get(slug="llm-engineer")
    role.title = "LLM Engineer (renamed)"
    role.save()
    titles = {r["title"] for r in api_client.get(url, {"page_size": 100}).json()["results"]}
    assert "LLM Engineer (renamed)" in titles
    band = SalaryBand.objects.filter(role=role).first()
    before = api_client.get("/api/v1/career/roles/llm-engineer/").json()
    assert band.total_max + 1 not in {s["total_max"] for s in before["salaries"]}
    band.total_max += 1
    band.save()
    detail = api_client.get("/api/v1/career/roles/llm-engineer/").json()
    assert band.total_max in {s["total_max"] for s in detail["salaries"]}
