from __future__ import annotations

import uuid

import pytest
import yaml
from django.core.files.base import ContentFile

from apps.labs.models import Artifact, LabJob
from apps.labs.services import lab_job_claim, lab_job_events_record, lab_job_submit

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/labs/jobs/"


@pytest.fixture
def client_for(api_client):
    def login(user):
        api_client.force_authenticate(user)
        return api_client

    return login


def test_list_labs_with_quota_left(api_client, labs, learner):
    anonymous = api_client.get("/api/v1/labs/").json()
    assert [lab["slug"] for lab in anonymous][:2] == ["spam-classifier", "char-gpt"]
    assert anonymous[0]["quota_left_minutes"] is None
    assert anonymous[0]["param_schema"][0]["name"] == "max_features"
    api_client.force_authenticate(learner)
    assert api_client.get("/api/v1/labs/").json()[0]["quota_left_minutes"] == 60


def test_submit_returns_201_with_the_queued_job(client_for, labs, learner, no_celery):
    response = client_for(learner).post(JOBS, {"lab": "spam-classifier", "params": {"C": 2}}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["params"]["C"] == 2.0 and body["position"] == 1
    assert body["lab"] == "spam-classifier" and uuid.UUID(body["id"])


def test_submit_outside_the_schema_is_400_naming_the_field(client_for, labs, learner):
    response = client_for(learner).post(JOBS, {"lab": "spam-classifier", "params": {"test_size": 0.9}}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "params.test_size" and "between 0.1 and 0.5" in body["detail"]
    assert body["params.test_size"] == [body["detail"]]
    bad_shape = client_for(learner).post(JOBS, {"lab": "spam-classifier", "params": [1, 2]}, format="json")
    assert bad_shape.status_code == 400 and "params" in bad_shape.json()


def test_submit_with_a_number_too_big_for_a_float_is_400_and_queues_nothing(client_for, labs, learner):
    from apps.labs.models import LabJob

    body = '{"lab": "spam-classifier", "params": {"seed": 1%s}}' % ("0" * 400)
    response = client_for(learner).post(JOBS, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "params.seed" and "whole number" in response.json()["detail"]
    assert not LabJob.objects.filter(owner=learner).exists()


def test_submit_unknown_lab_is_404(client_for, labs, learner):
    response = client_for(learner).post(JOBS, {"lab": "quantum-gpt", "params": {}}, format="json")
    assert response.status_code == 404 and "quantum-gpt" in response.json()["detail"]


def test_quota_exhausted_is_429_with_reset_time(client_for, labs, learner, settings, no_celery):
    settings.LABS_QUOTA_CPU_MINUTES_PER_DAY = 1
    client = client_for(learner)
    assert client.post(JOBS, {"lab": "spam-classifier"}, format="json").status_code == 201
    response = client.post(JOBS, {"lab": "spam-classifier"}, format="json")
    assert response.status_code == 429
    body = response.json()
    assert body["resets_at"].endswith("T00:00:00+00:00") and body["quota"] == "cpu_minutes"
    assert int(response["Retry-After"]) == body["retry_after"] > 0
    assert "resets at 00:00 UTC" in body["detail"]


def test_submit_requires_authentication(api_client, labs):
    assert api_client.post(JOBS, {"lab": "spam-classifier"}, format="json").status_code in (401, 403)


def test_list_and_get_own_jobs_only(client_for, labs, learner, other_learner, staff, no_celery):
    mine = lab_job_submit(user=learner, lab="spam-classifier", params={})
    theirs = lab_job_submit(user=other_learner, lab="spam-classifier", params={})
    client = client_for(learner)
    listed = client.get(JOBS).json()
    assert [j["id"] for j in listed["results"]] == [str(mine.pk)] and listed["count"] == 1
    assert client.get(f"{JOBS}{mine.pk}/").json()["status"] == "queued"
    assert client.get(f"{JOBS}{theirs.pk}/").status_code == 404
    assert client.get(f"{JOBS}{uuid.uuid4()}/").status_code == 404
    assert client_for(staff).get(f"{JOBS}{theirs.pk}/").status_code == 200


def test_events_since_seq_n(client_for, labs, learner, other_learner, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    job = lab_job_claim(job.pk, worker="w", task_id="t")
    lab_job_events_record(job, [("log", {"line": f"line {i}"}) for i in range(1, 6)], attempt=job.attempts)
    client = client_for(learner)
    body = client.get(f"{JOBS}{job.pk}/events/?after=2").json()
    assert [e["seq"] for e in body["events"]] == [3, 4, 5] and body["next_after"] == 5 and body["more"] is False
    assert body["events"][0]["payload"]["line"] == "line 3" and body["status"] == "running"
    assert client.get(f"{JOBS}{job.pk}/events/?after=5").json()["events"] == []
    assert client.get(f"{JOBS}{job.pk}/events/?after=x").status_code == 400
    assert client_for(other_learner).get(f"{JOBS}{job.pk}/events/").status_code == 404


def test_cancel_endpoint(client_for, labs, learner, other_learner, no_celery):
    queued = lab_job_submit(user=learner, lab="spam-classifier", params={})
    assert client_for(other_learner).post(f"{JOBS}{queued.pk}/cancel/").status_code == 404
    response = client_for(learner).post(f"{JOBS}{queued.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    running = lab_job_submit(user=learner, lab="spam-classifier", params={})
    lab_job_claim(running.pk, worker="w", task_id="t")
    response = client_for(learner).post(f"{JOBS}{running.pk}/cancel/")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True


def test_artifact_download_owner_only(client_for, labs, learner, staff, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    artifact = Artifact(job=job, name="out/model.json", size=2, sha256="0" * 64)
    artifact.file.save("model.json", ContentFile(b"{}"), save=True)
    LabJob.objects.filter(pk=job.pk).update(status="succeeded")
    url = f"{JOBS}{job.pk}/artifacts/{artifact.pk}/"
    response = client_for(learner).get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"{}"
    assert 'filename="model.json"' in response["Content-Disposition"]
    detail = client_for(learner).get(f"{JOBS}{job.pk}/").json()
    assert detail["artifacts"][0]["url"] == url
    assert client_for(staff).get(url).status_code == 404


def test_openapi_schema_documents_the_labs_api(client, db):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    paths = schema["paths"]
    assert {"get", "post"} <= paths["/api/v1/labs/jobs/"].keys()
    for path in ("/api/v1/labs/", "/api/v1/labs/jobs/{job_id}/events/", "/api/v1/labs/jobs/{job_id}/cancel/",
                 "/api/v1/labs/jobs/{job_id}/artifacts/{artifact_id}/"):
        assert path in paths, path


@pytest.mark.parametrize("role", ["hiring_manager", "no_role"])
def test_accounts_without_the_run_labs_grant_cannot_queue_a_run(client_for, labs, role, hiring_manager):
    from tests.conftest import make_user

    user = hiring_manager if role == "hiring_manager" else make_user("norole")
    response = client_for(user).post(JOBS, {"lab": "spam-classifier", "params": {}}, format="json")
    assert response.status_code == 403 and "learner" in response.json()["detail"]
    assert not LabJob.objects.exists()


def test_authors_may_try_the_labs_they_write(client_for, labs, author, no_celery):
    response = client_for(author).post(JOBS, {"lab": "spam-classifier", "params": {}}, format="json")
    assert response.status_code == 201, response.content
