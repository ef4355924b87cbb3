"""Issue #14, the labs part, without a real sandbox: who may see a job (finding 4), the
same parameter validation whatever the content type (16), unstorable runner text (11),
per-job event caps and paged, rate-limited replays (3), the global dispatch cap.

The attacks go through the paths an attacker uses: the pages and API through Django's full
request stack, the websocket through the real ASGI application and Redis channel layer."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from apps.core.roles import LEARNER, SUPPORT
from apps.labs import consumers as labs_consumers
from apps.labs.job_events import JobSession, clean_json
from apps.labs.models import Artifact, LabJob, LabJobEvent
from apps.labs.sandbox import ExitStatus, RunnerEvent
from apps.labs.services import (
    lab_job_claim,
    lab_job_events_record,
    lab_job_execute,
    lab_job_finish,
    lab_job_submit,
)
from tests.conftest import make_user
from tests.labs.conftest import run_async
from tests.labs.test_consumers import LINE_SEQ, _close_code, _connect

FAKE = "tests.labs.fakes.ScriptedBackend"
JOBS = "/api/v1/labs/jobs/"


def _running(labs, user, lab="custom-script"):
    job = lab_job_submit(user=user, lab=lab, params={})
    return lab_job_claim(job.pk, worker="w@test", task_id="t")


def _api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


# --- finding 4: visibility through an explicit permission ---------------------------------


@pytest.fixture
def learner_job(labs, learner, no_celery):
    job = _running(labs, learner)
    lab_job_events_record(job, [("log", {"stream": "stdout", "line": "secret output"})], attempt=job.attempts)
    Artifact.objects.create(
        job=job, name="model.bin", size=3, sha256="0" * 64, file=ContentFile(b"abc", name="model.bin")
    )
    return job


@pytest.mark.django_db(transaction=True)  # the websocket consumer reads through its own connection
@pytest.mark.parametrize("who", ["author", "hiring_manager"])
def test_authors_and_hiring_managers_get_404_on_a_learners_job_everywhere(request, who, learner_job):
    """The demo author is is_staff: that used to be enough to read and cancel any job."""
    intruder = request.getfixturevalue(who)
    job = learner_job
    artifact = job.artifacts.get()
    page = Client()
    page.force_login(intruder)
    assert page.get(reverse("labs:job-detail", args=[job.pk])).status_code == 404
    assert page.get(reverse("labs:job-cancel", args=[job.pk])).status_code == 404
    assert page.post(reverse("labs:job-cancel", args=[job.pk])).status_code == 404
    assert page.get(reverse("labs:artifact-download", args=[job.pk, artifact.pk])).status_code == 404
    api = _api(intruder)
    for response in (
        api.get(f"{JOBS}{job.pk}/"),
        api.get(f"{JOBS}{job.pk}/events/"),
        api.post(f"{JOBS}{job.pk}/cancel/"),
        api.get(f"{JOBS}{job.pk}/artifacts/{artifact.pk}/"),
    ):
        assert response.status_code == 404, (response.request["PATH_INFO"], response.status_code)
        assert b"secret output" not in response.content
    assert _close_code(_connect(f"/ws/labs/jobs/{job.pk}/?after=0", intruder)) == 4404
    job.refresh_from_db()
    assert job.status == "running" and not job.cancel_requested


def test_the_support_role_sees_and_cancels_any_job_but_not_its_files(labs, learner, learner_job, no_celery):
    support = make_user("sue", SUPPORT)
    job = learner_job
    api = _api(support)
    assert api.get(f"{JOBS}{job.pk}/").status_code == 200
    assert "secret output" in json.dumps(api.get(f"{JOBS}{job.pk}/events/").json())
    assert api.get(f"{JOBS}{job.pk}/artifacts/{job.artifacts.get().pk}/").status_code == 404  # owner only
    response = api.post(f"{JOBS}{job.pk}/cancel/")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True


def test_seeing_any_job_does_not_imply_cancelling_it(labs, learner_job, no_celery):
    viewer = make_user("vic")
    viewer.user_permissions.add(Permission.objects.get(codename="view_any_labjob"))
    api = _api(viewer)
    assert api.get(f"{JOBS}{learner_job.pk}/").status_code == 200
    response = api.post(f"{JOBS}{learner_job.pk}/cancel/")
    assert response.status_code == 403 and "support role" in response.json()["detail"]
    page = Client()
    page.force_login(viewer)
    assert page.post(reverse("labs:job-cancel", args=[learner_job.pk])).status_code == 403


def test_no_role_is_granted_the_job_permissions_except_support(db):
    from apps.core.roles import role_groups_sync

    role_groups_sync()
    holders = set(
        Group.objects.filter(permissions__codename__in=["view_any_labjob", "cancel_any_labjob"]).values_list(
            "name", flat=True
        )
    )
    assert holders == {SUPPORT}


# --- finding 16: one schema, whatever the content type ---------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"lab": "spam-classifier", "params.max_features": "-1"},
        {"lab": "spam-classifier", "params[max_features]": "-1"},
        {"lab": "spam-classifier", "max_features": "-1"},
        {"lab": "spam-classifier", "params": json.dumps({"max_features": -1})},
    ],
)
@pytest.mark.parametrize("content", ["form", "multipart"])
def test_form_encoded_and_multipart_submissions_refuse_bad_params_naming_the_field(
    labs, learner, no_celery, body, content
):
    api = _api(learner)
    if content == "form":
        from urllib.parse import urlencode

        response = api.post(JOBS, urlencode(body), content_type="application/x-www-form-urlencoded")
    else:
        response = api.post(JOBS, body, format="multipart")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "params.max_features"
    assert "between 10 and 200000" in response.json()["detail"]
    assert not LabJob.objects.exists()  # never run with defaults instead


def test_form_encoded_good_params_are_used_not_replaced_by_defaults(labs, learner, no_celery):
    from urllib.parse import urlencode

    body = urlencode({"lab": "spam-classifier", "params.max_features": "300", "params.C": "2"})
    response = _api(learner).post(JOBS, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 201, response.content
    assert response.json()["params"]["max_features"] == 300 and response.json()["params"]["C"] == 2.0


def test_form_submissions_refuse_unknown_names_and_bad_json(labs, learner, no_celery):
    from urllib.parse import urlencode

    api = _api(learner)
    unknown = api.post(
        JOBS,
        urlencode({"lab": "spam-classifier", "max_featurez": "5"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert unknown.status_code == 400 and unknown.json()["field"] == "params.max_featurez"
    bad_json = api.post(
        JOBS,
        urlencode({"lab": "spam-classifier", "params": "{max_features: 5"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert bad_json.status_code == 400 and bad_json.json()["field"] == "params"
    # JSON: a parameter beside params instead of inside it is refused, not ignored.
    beside = api.post(JOBS, {"lab": "spam-classifier", "max_features": -1}, format="json")
    assert beside.status_code == 400 and "max_features" in beside.json()
    assert not LabJob.objects.exists()


def test_the_html_form_refuses_bad_params_with_400_on_the_field(client, labs, learner, no_celery):
    client.force_login(learner)
    url = reverse("labs:detail", args=["spam-classifier"])
    response = client.post(url, {"max_features": "-1", "C": "1", "test_size": "0.2", "ngram_max": "2", "seed": "42"})
    assert response.status_code == 400
    assert "between 10 and 200000" in response.context["form"].errors["max_features"][0]
    assert not LabJob.objects.exists()


# --- finding 11 (part): text Postgres cannot store -----------------------------------------


def test_clean_json_replaces_lone_surrogates_and_nul_in_values_and_keys():
    cleaned = clean_json({"m\ud800": ["a\udfffb", "c\x00d"], "ok": "fine \u00e9"})
    assert cleaned == {"m\ufffd": ["a\ufffdb", "c\ufffdd"], "ok": "fine \u00e9"}
    json.dumps(cleaned).encode()  # storable: encodes as UTF-8
    cleaned["m\ufffd"][0].encode("utf-8")


# --- the global cap on jobs handed to Celery per queue ----------------------------------------


def test_at_most_the_queue_cap_is_dispatched_and_the_rest_follow_as_jobs_end(
    labs, no_celery, settings, django_capture_on_commit_callbacks
):
    settings.LABS_MAX_RUNNING_PER_QUEUE = 1
    learners = [make_user(f"new{i}", LEARNER) for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        jobs = [lab_job_submit(user=u, lab="spam-classifier", params={}) for u in learners]

    def sent() -> list[str]:
        return [args[0] for name, args, *_ in no_celery if name == "labs.lab_job_run"]

    assert sent() == [str(jobs[0].pk)]
    assert [LabJob.objects.get(pk=j.pk).dispatched_at is None for j in jobs] == [False, True, True]
    for index, job in enumerate(jobs):
        claimed = lab_job_claim(job.pk, worker="w", task_id="t")
        assert claimed is not None
        with django_capture_on_commit_callbacks(execute=True):
            lab_job_finish(claimed, ExitStatus(0, "succeeded", "ok"))
        assert sent() == [str(j.pk) for j in jobs[: index + 2]]  # the next one, and only it
    assert len(sent()) == 3


def test_the_queue_cap_has_a_sane_default_and_zero_means_none(labs, no_celery, settings):
    from django.conf import settings as live

    assert live.LABS_MAX_RUNNING_PER_QUEUE >= 1
    settings.LABS_MAX_RUNNING_PER_QUEUE = 0
    jobs = [lab_job_submit(user=make_user(f"u{i}", LEARNER), lab="spam-classifier", params={}) for i in range(3)]
    assert LabJob.objects.filter(pk__in=[j.pk for j in jobs], dispatched_at__isnull=False).count() == 3


# --- finding 3: event caps, coalescing, paged and rate-limited replays ---------------------


def test_event_caps_have_sane_defaults():
    from django.conf import settings

    assert 5_000 <= settings.LABS_MAX_EVENTS_PER_JOB <= 100_000
    assert 1024 * 1024 <= settings.LABS_MAX_EVENT_BYTES_PER_JOB <= 50 * 1024 * 1024


@pytest.mark.django_db(transaction=True)  # the event writer has its own connection
def test_a_job_passing_the_event_byte_cap_is_stopped_with_the_reason(labs, learner, no_celery, settings):
    settings.LABS_SANDBOX_BACKEND = FAKE
    big = "x" * 1000
    settings.LABS_SANDBOX_OPTIONS = {
        "events": [("metric", {"name": f"m{i}", "value": 1, "note": big}) for i in range(500)],
        "wait_for_cancel": 10,
    }
    settings.LABS_MAX_EVENT_BYTES_PER_JOB = 50_000
    job = _running(labs, learner)
    done = lab_job_execute(job)
    assert done.status == "failed" and done.exit_reason == "event_limit"
    assert done.reason.startswith("Event limit reached: the job sent more than 49 KB of events")
    assert LabJobEvent.objects.filter(job=job).count() <= 55  # ~50 KB of 1 KB events, plus notices


@pytest.mark.django_db(transaction=True)
def test_progress_events_are_coalesced_and_still_count_toward_the_cap(labs, learner, no_celery, settings):
    settings.LABS_MAX_EVENTS_PER_JOB = 1000
    settings.LABS_EVENT_BATCH_SECONDS = 30  # nothing is written until flush: all coalesce
    job = _running(labs, learner)
    session = JobSession(job)
    try:
        for i in range(1500):
            session.on_event(RunnerEvent(i + 1, "progress", {"fraction": i / 1500}))
        assert session.should_cancel() is True and session.limit_reason.startswith("Event limit reached")
        assert "1,000 events" in session.limit_reason
        session.flush()
    finally:
        session.close()
    stored = list(LabJobEvent.objects.filter(job=job).order_by("seq").values_list("type", flat=True))
    assert stored.count("progress") <= 2 and stored[-1] == "log"  # the limit notice


def _final_job_with_events(labs, learner, count: int) -> LabJob:
    job = _running(labs, learner)
    LabJobEvent.objects.bulk_create(
        [
            LabJobEvent(job=job, seq=s, type="log", payload={"stream": "stdout", "line": f"line {s}"})
            for s in range(1, count + 1)
        ]
    )
    LabJob.objects.filter(pk=job.pk).update(last_event_seq=count)
    job.refresh_from_db()
    return lab_job_finish(job, ExitStatus(0, "succeeded", "ok"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_websocket_replay_of_a_big_job_streams_in_pages(labs, learner, no_celery, settings, monkeypatch):
    settings.LABS_REPLAY_PAGE_SIZE = 100
    job = _final_job_with_events(labs, learner, 1050)
    reads: list[tuple[int | None, int]] = []
    for name in ("lab_job_replay", "lab_job_events_dicts"):
        real = getattr(labs_consumers, name)

        def spy(*args, _real=real, **kwargs):
            result = _real(*args, **kwargs)
            events = result[1] if isinstance(result, tuple) else result
            reads.append((kwargs.get("limit"), len(events)))
            return result

        monkeypatch.setattr(labs_consumers, name, spy)
    frames: list[str] = []
    comm = _connect(f"/ws/labs/jobs/{job.pk}/?after=0", learner)

    async def run():
        assert (await comm.connect(timeout=5))[0]
        while True:
            message = await comm.receive_output(timeout=10)
            if message["type"] == "websocket.close":
                return message["code"]
            frames.append(message["text"])

    assert run_async(run) == 1000
    seqs = [int(s) for frame in frames for s in LINE_SEQ.findall(frame)]
    assert seqs == list(range(1, 1051))  # everything, in order, once
    assert max(len(LINE_SEQ.findall(f)) for f in frames) == 100 and len(frames) == 11
    assert all(n <= 100 for _, n in reads) and len(reads) == 11  # one page per query
    assert 'id="labjob-result"' in frames[-1] and all('id="labjob-result"' not in f for f in frames[:-1])


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_ten_quick_resumes_do_not_cause_ten_replays(labs, learner, no_celery, monkeypatch):
    job = _running(labs, learner)
    lab_job_events_record(job, [("log", {"stream": "stdout", "line": f"l{i}"}) for i in range(5)], attempt=job.attempts)
    replays: list[int] = []
    real = labs_consumers.lab_job_replay
    monkeypatch.setattr(labs_consumers, "lab_job_replay", lambda **kw: replays.append(kw["after"]) or real(**kw))
    comm = _connect(f"/ws/labs/jobs/{job.pk}/", learner)

    async def run():
        assert (await comm.connect(timeout=5))[0]
        for after in range(10):
            await comm.send_json_to({"after": after % 5})
        frames = []
        # The deferred replay (for the latest "after") arrives within a second.
        while len(frames) < 3:
            try:
                frames.append(await comm.receive_from(timeout=2))
            except Exception:
                break
        await comm.disconnect(timeout=10)  # generous: a loaded CI machine is slow to close
        return frames

    frames = run_async(run)
    assert 1 <= len(replays) <= 3, replays
    assert replays[-1] == 4  # the last one asked for is served
    assert [int(s) for s in LINE_SEQ.findall(frames[-1])] == [5]


def test_page_download_of_someone_elses_artifact_is_404_even_with_its_id(client, labs, learner_job, other_learner):
    client.force_login(other_learner)
    artifact = learner_job.artifacts.get()
    assert client.get(reverse("labs:artifact-download", args=[learner_job.pk, artifact.pk])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_consumer_pages_gap_fills_too(labs, learner, no_celery, settings):
    """A lost push is filled from the database a page at a time as well."""
    settings.LABS_REPLAY_PAGE_SIZE = 10
    job = _running(labs, learner)
    comm = _connect(f"/ws/labs/jobs/{job.pk}/", learner)

    async def run():
        assert (await comm.connect(timeout=5))[0]
        await comm.send_json_to({"after": 0})
        await comm.receive_from(timeout=5)

        def write_silently():
            LabJobEvent.objects.bulk_create(
                [LabJobEvent(job=job, seq=s, type="log", payload={"line": f"s{s}"}) for s in range(1, 26)]
            )
            LabJob.objects.filter(pk=job.pk).update(last_event_seq=25)
            lab_job_events_record(job, [("log", {"stream": "stdout", "line": "26"})])

        await database_sync_to_async(write_silently)()
        frames = [await comm.receive_from(timeout=5) for _ in range(3)]
        await comm.disconnect(timeout=10)  # generous: a loaded CI machine is slow to close
        return frames

    frames = run_async(run)
    assert [len(LINE_SEQ.findall(f)) for f in frames] == [10, 10, 6]
