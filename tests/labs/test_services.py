from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.core.errors import ApplicationError, NotFound, Throttled
from apps.core.roles import LEARNER
from apps.labs.models import Artifact, Lab, LabJob, LabJobEvent
from apps.labs.sandbox import ExitStatus
from apps.labs.selectors import lab_queue_positions, lab_quota
from apps.labs.services import (
    JobLost,
    cancel_key,
    lab_catalog_sync,
    lab_job_cancel,
    lab_job_claim,
    lab_job_events_record,
    lab_job_execute,
    lab_job_finish,
    lab_job_submit,
    lab_jobs_reap,
)
from tests.conftest import make_user
from tests.labs.conftest import wait_for
from tests.labs.fakes import ScriptedBackend

pytestmark = pytest.mark.django_db

FAKE = "tests.labs.fakes.ScriptedBackend"


def test_catalog_sync_upserts_every_kind_and_is_idempotent(db):
    from apps.labs.kinds import all_kinds

    n = len(all_kinds())
    assert f"{n} synced ({n} new" in lab_catalog_sync()
    spam = Lab.objects.get(slug="spam-classifier")
    assert spam.queue == "cpu" and spam.targets[0]["value"] == 0.95 and spam.milestone_slug == "spam-classifier"
    assert [p["name"] for p in spam.param_schema][:2] == ["max_features", "ngram_max"]
    assert Lab.objects.get(slug="char-gpt").queue == "cpu"  # no GPU workers unless LABS_USE_GPU_QUEUE
    Lab.objects.create(slug="retired", kind="retired", title="Old lab")
    summary = lab_catalog_sync()
    assert f"{n} synced (0 new, {n} updated), 1 deactivated" in summary
    assert not Lab.objects.get(slug="retired").is_active


def test_gpu_preferring_kinds_use_the_gpu_queue_where_configured(db, settings):
    settings.LABS_USE_GPU_QUEUE = True
    lab_catalog_sync()
    gpt = Lab.objects.get(slug="char-gpt")
    assert gpt.queue == "gpu" and gpt.limits["gpu_count"] == 1
    assert Lab.objects.get(slug="spam-classifier").queue == "cpu"


def test_submit_creates_a_queued_job_and_enqueues_it_on_commit(labs, learner, no_celery,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = lab_job_submit(user=learner, lab="spam-classifier", params={"C": 5})
    assert job.status == "queued" and job.params["C"] == 5.0 and job.params["max_features"] == 5000
    assert job.queue == "cpu" and job.charged_minutes == 1.0 and job.dispatched_at is not None
    assert no_celery == [("labs.lab_job_run", (str(job.pk),), "cpu", job.celery_task_id)]


def test_nothing_is_enqueued_if_the_transaction_does_not_commit(labs, learner, no_celery,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lab_job_submit(user=learner, lab="spam-classifier", params={})
    assert len(callbacks) == 1 and no_celery == []


def test_submit_rejects_params_outside_the_schema_naming_the_field(labs, learner):
    with pytest.raises(ApplicationError) as info:
        lab_job_submit(user=learner, lab="spam-classifier", params={"max_features": 1_000_000})
    assert info.value.field == "params.max_features" and "between 10 and 200000" in info.value.message
    assert not LabJob.objects.exists()


def test_unknown_or_inactive_lab_is_not_found(labs, learner):
    with pytest.raises(NotFound):
        lab_job_submit(user=learner, lab="no-such-lab", params={})
    Lab.objects.filter(slug="char-gpt").update(is_active=False)
    with pytest.raises(NotFound):
        lab_job_submit(user=learner, lab="char-gpt", params={})


def test_daily_quota_raises_throttled_with_reset_time(labs, learner, settings, no_celery):
    settings.LABS_QUOTA_CPU_MINUTES_PER_DAY = 3
    settings.LABS_MAX_ACTIVE_JOBS_PER_USER = 10
    lab_job_submit(user=learner, lab="spam-classifier", params={})
    lab_job_submit(user=learner, lab="spam-classifier", params={})
    with pytest.raises(Throttled) as info:
        lab_job_submit(user=learner, lab="char-gpt", params={})  # 2 minutes > 1 left
    exc = info.value
    tomorrow = (timezone.now().astimezone(UTC) + timedelta(days=1)).date()
    resets = datetime.fromisoformat(exc.extra["resets_at"])
    assert resets.date() == tomorrow and (resets.hour, resets.minute) == (0, 0)
    assert 0 < exc.extra["retry_after"] <= 86400
    assert "about 2 CPU-minutes" in exc.message and "1 of your 3 left" in exc.message
    # A spam run (1 minute) still fits.
    lab_job_submit(user=learner, lab="spam-classifier", params={})


def test_concurrent_job_cap_raises_throttled(labs, learner, settings, no_celery):
    settings.LABS_MAX_ACTIVE_JOBS_PER_USER = 2
    for _ in range(2):
        lab_job_submit(user=learner, lab="spam-classifier", params={})
    with pytest.raises(Throttled) as info:
        lab_job_submit(user=learner, lab="spam-classifier", params={})
    assert info.value.extra["quota"] == "active_jobs" and "retry_after" in info.value.extra


def test_claim_twice_second_delivery_does_nothing(labs, learner, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    first = lab_job_claim(job.pk, worker="w1@host", task_id="t1")
    second = lab_job_claim(job.pk, worker="w2@host", task_id="t1")
    assert first is not None and second is None
    job.refresh_from_db()
    assert job.status == "running" and job.worker == "w1@host" and job.attempts == 1 and job.started_at


def test_cancel_someone_elses_job_is_not_found(labs, learner, other_learner, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    with pytest.raises(NotFound):
        lab_job_cancel(job=job, user=other_learner)
    with pytest.raises(NotFound):
        lab_job_cancel(job=job.pk, user=other_learner)
    job.refresh_from_db()
    assert job.status == "queued" and not job.cancel_requested


def test_cancel_queued_ends_now_revokes_and_gives_the_minutes_back(labs, learner, no_celery,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = lab_job_submit(user=learner, lab="spam-classifier", params={})
        assert lab_quota(user=learner, queue="cpu").used_minutes == 1.0
        job = lab_job_cancel(job=job, user=learner)
    assert job.status == "cancelled" and job.reason == "Cancelled by you." and job.finished_at
    assert ("revoke", job.celery_task_id) in no_celery
    assert lab_quota(user=learner, queue="cpu").used_minutes == 0.0
    assert lab_job_claim(job.pk, worker="w", task_id="t") is None  # a late delivery finds nothing


def test_support_can_cancel_a_learners_running_job(labs, learner, staff, no_celery,
                                                 django_capture_on_commit_callbacks):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    lab_job_claim(job.pk, worker="w", task_id="t")
    with django_capture_on_commit_callbacks(execute=True):
        job = lab_job_cancel(job=job.pk, user=staff)
    assert job.status == "running" and job.cancel_requested and job.cancelled_by == staff
    assert cache.get(cancel_key(job.pk)) == 1
    assert "Cancel requested by sam" in LabJobEvent.objects.get(job=job).payload["line"]
    done = lab_job_finish(job, ExitStatus(None, "cancelled", "Cancelled."))
    assert done.status == "cancelled" and done.reason == "Cancelled by sam (support)."
    cache.delete(cancel_key(job.pk))


def _running(labs, user, lab="spam-classifier", **params):
    job = lab_job_submit(user=user, lab=lab, params=params)
    return lab_job_claim(job.pk, worker="w@test", task_id="t")


def test_events_get_continuous_seqs_and_fold_into_metrics_and_progress(labs, learner, no_celery):
    job = _running(labs, learner)
    last = lab_job_events_record(job, [
        ("progress", {"fraction": 0.5, "message": "half"}),
        ("metric", {"name": "loss", "value": 2.0, "step": 1}),
        ("log", {"stream": "stdout", "line": "nul\x00byte"}),
    ], attempt=job.attempts)
    assert last == 3
    last = lab_job_events_record(job, [
        ("metric", {"name": "loss", "value": 1.5, "step": 2}),
        ("result", {"status": "ok", "metrics": {"accuracy": 0.97, "bad": float("nan")}, "sample": "hi"}),
    ], attempt=job.attempts)
    assert last == 5
    job.refresh_from_db()
    assert job.last_event_seq == 5 and job.progress == 0.5 and job.progress_message == "half"
    assert job.metrics == {"loss": 1.5, "accuracy": 0.97} and job.result == {"status": "ok", "sample": "hi"}
    assert list(LabJobEvent.objects.filter(job=job).values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
    assert LabJobEvent.objects.get(job=job, seq=3).payload["line"] == "nul\ufffdbyte"
    with pytest.raises(JobLost):  # a stale claim may not write
        lab_job_events_record(job, [("log", {"line": "late"})], attempt=job.attempts + 1)


def test_finish_grades_against_targets_and_reconciles_quota(labs, learner, no_celery):
    job = _running(labs, learner)
    LabJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=30))
    job.refresh_from_db()
    lab_job_events_record(job, [("metric", {"name": "accuracy", "value": 0.97})], attempt=job.attempts)
    done = lab_job_finish(job, ExitStatus(0, "succeeded", "Finished successfully."), job.metrics)
    assert done.status == "succeeded" and done.grade["passed"] is True
    assert done.grade["targets"][0] | {"actual": 0.97, "passed": True} == done.grade["targets"][0]
    assert 0.49 < done.charged_minutes < 0.6  # 30 s, not the 1-minute estimate
    assert len(done.evidence_sha256) == 64
    # Finishing twice does nothing (a late second worker).
    assert lab_job_finish(job, ExitStatus(1, "failed", "x")) is None

    low = _running(labs, learner)
    missed = lab_job_finish(low, ExitStatus(0, "succeeded", "ok"), {"accuracy": 0.9})
    assert missed.status == "succeeded" and missed.grade["passed"] is False


@pytest.mark.parametrize(
    ("reason", "status", "words"),
    [
        ("timed_out", "timed_out", ["Time limit reached", "fewer steps"]),
        ("out_of_memory", "failed", ["Out of memory", "smaller model"]),
        ("output_limit", "failed", ["Too much output"]),
        ("killed", "failed", ["Stopped:"]),
        ("failed", "failed", ["The lab program stopped with an error", "ZeroDivisionError"]),
    ],
)
def test_finish_explains_each_way_a_job_can_end(labs, learner, no_celery, reason, status, words):
    job = _running(labs, learner)
    tail = ["Traceback (most recent call last):", '  File "main.py", line 1', "ZeroDivisionError: division by zero"]
    done = lab_job_finish(job, ExitStatus(1, reason, "detail from the sandbox."), stderr_tail=tail)
    assert done.status == status and done.grade == {}
    for word in words:
        assert word in done.reason


def test_custom_script_errors_say_error_in_your_code_with_the_traceback(labs, learner, no_celery):
    job = _running(labs, learner, lab="custom-script", code="1/0")
    lab_job_events_record(job, [("result", {"status": "error", "error": "ZeroDivisionError: division by zero"})],
                          attempt=job.attempts)
    done = lab_job_finish(job, ExitStatus(1, "failed", "The program exited with code 1."),
                          stderr_tail=["Traceback (most recent call last):", "ZeroDivisionError: division by zero"])
    assert done.reason.startswith("Error in your code: ZeroDivisionError")
    assert "Last lines of the error output:\nTraceback" in done.reason


def test_finish_stores_announced_artifacts_hashing_them_itself(labs, learner, no_celery, tmp_path):
    job = _running(labs, learner)
    (tmp_path / "model.json").write_text('{"w": 1}')
    os.symlink("/etc/passwd", tmp_path / "escape.txt")
    done = lab_job_finish(
        job, ExitStatus(0, "succeeded", "ok"), {"accuracy": 0.99},
        artifacts=[{"path": "model.json", "kind": "model", "sha256": "lies"}, {"path": "escape.txt"},
                   {"path": "../../etc/shadow"}],
        work_dir=tmp_path,
    )
    artifact = Artifact.objects.get(job=job)
    import hashlib

    assert artifact.name == "model.json" and artifact.size == 8
    assert artifact.sha256 == hashlib.sha256(b'{"w": 1}').hexdigest()
    assert artifact.file.read() == b'{"w": 1}'
    assert "symbolic link" in done.reason and "File not kept" in done.reason


def test_fair_dispatch_round_robins_between_learners(labs, learner, other_learner, no_celery,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        a = [lab_job_submit(user=learner, lab="spam-classifier", params={}) for _ in range(3)]
        b = lab_job_submit(user=other_learner, lab="spam-classifier", params={})
    sent = [args[0] for name, args, *_ in no_celery if name == "labs.lab_job_run"]
    assert sent == [str(a[0].pk), str(b.pk)]  # at most one per learner in the broker
    positions = lab_queue_positions(queue="cpu")
    assert [positions[j.pk] for j in (a[0], b, a[1], a[2])] == [1, 2, 3, 4]
    with django_capture_on_commit_callbacks(execute=True):
        running = lab_job_claim(a[0].pk, worker="w", task_id="t")
        assert lab_queue_positions(queue="cpu")[b.pk] == 1
        lab_job_finish(running, ExitStatus(0, "succeeded", "ok"), {"accuracy": 1.0})
    sent = [args[0] for name, args, *_ in no_celery if name == "labs.lab_job_run"]
    assert sent[-1] == str(a[1].pk)  # A's next job goes in when A's first ends


def test_reaper_requeues_a_lost_job_once_then_fails_it(labs, learner, no_celery, django_capture_on_commit_callbacks):
    job = _running(labs, learner)
    LabJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    with django_capture_on_commit_callbacks(execute=True):
        assert lab_jobs_reap(stale_after=30)["requeued"] == 1
    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 1 and job.dispatched_at and not job.worker
    assert "put back in the queue" in LabJobEvent.objects.filter(job=job).last().payload["line"]
    assert no_celery[-1][1] == (str(job.pk),)

    job = lab_job_claim(job.pk, worker="w2", task_id="t2")
    assert job.attempts == 2
    LabJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    assert lab_jobs_reap(stale_after=30)["failed"] == 1
    job.refresh_from_db()
    assert job.status == "failed" and "worker lost" in job.reason.lower() and job.finished_at
    assert lab_jobs_reap(stale_after=30) == {"requeued": 0, "failed": 0, "cancelled": 0, "redispatched": 0,
                                             "dispatched": 0}


def test_reaper_leaves_live_jobs_alone_and_resends_stuck_queued_ones(labs, learner, no_celery,
                                                                      django_capture_on_commit_callbacks):
    live = _running(labs, learner)
    stuck = lab_job_submit(user=make_user("ivy", LEARNER), lab="spam-classifier", params={})
    LabJob.objects.filter(pk=stuck.pk).update(dispatched_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        counts = lab_jobs_reap(stale_after=30, redispatch_after=600)
    assert counts["requeued"] == 0 and counts["redispatched"] == 1
    live.refresh_from_db()
    assert live.status == "running"
    stuck_after = LabJob.objects.get(pk=stuck.pk)
    assert stuck_after.celery_task_id != stuck.celery_task_id and no_celery[-1][3] == stuck_after.celery_task_id


@pytest.mark.django_db(transaction=True)  # the event writer has its own connection
def test_execute_never_runs_unsandboxed_when_the_backend_is_unavailable(labs, learner, no_celery, settings):
    settings.LABS_SANDBOX_BACKEND = FAKE
    settings.LABS_SANDBOX_OPTIONS = {"unavailable": "bwrap is not installed: run apt-get install -y bubblewrap."}
    ScriptedBackend.runs.clear()
    job = _running(labs, learner)
    done = lab_job_execute(job)
    assert done.status == "failed" and "Labs cannot run right now: bwrap is not installed" in done.reason
    assert ScriptedBackend.runs == []


@pytest.mark.django_db(transaction=True)  # the event writer has its own connection
def test_execute_runs_the_spec_batches_events_and_grades(labs, learner, no_celery, settings):
    events = [("progress", {"fraction": i / 100}) for i in range(1, 121)]
    events += [("metric", {"name": "accuracy", "value": 0.96}), ("artifact", {"path": "out.txt", "kind": "text"})]
    settings.LABS_SANDBOX_BACKEND = FAKE
    settings.LABS_SANDBOX_OPTIONS = {"events": events, "files": {"out.txt": b"hello"}}
    ScriptedBackend.runs.clear()
    job = _running(labs, learner, max_features=300)
    done = lab_job_execute(job)
    spec = ScriptedBackend.runs[0]
    assert spec.runner == "spam_classifier" and spec.params["max_features"] == 300
    assert spec.limits.wall_seconds == 120 and spec.work_dir == Path(settings.LABS_WORK_ROOT) / str(job.pk)
    assert not spec.work_dir.exists()  # cleaned up
    assert done.status == "succeeded" and done.grade["passed"] is True and done.sandbox_backend == "scripted"
    # The start notice, the metric and the artifact; the 120 progress events were coalesced
    # (only the latest of each unwritten run is kept), and the last one still counts.
    stored = list(LabJobEvent.objects.filter(job=job).values_list("type", flat=True))
    assert done.last_event_seq == len(stored) < 1 + len(events)
    assert stored.count("metric") == 1 and stored.count("artifact") == 1 and 1 <= stored.count("progress") < 120
    assert LabJobEvent.objects.filter(job=job, type="progress").last().payload["fraction"] == 1.2
    assert Artifact.objects.get(job=job).size == 5


@pytest.mark.django_db(transaction=True)  # the event writer has its own connection
def test_execute_stops_when_cancel_is_requested(labs, learner, no_celery, settings):
    settings.LABS_SANDBOX_BACKEND = FAKE
    settings.LABS_SANDBOX_OPTIONS = {"events": [("log", {"line": "working"})], "wait_for_cancel": 10}
    job = _running(labs, learner, lab="custom-script")
    cache.set(cancel_key(job.pk), 1, 60)
    LabJob.objects.filter(pk=job.pk).update(cancel_requested=True, cancelled_by=learner)
    done = lab_job_execute(job)
    assert done.status == "cancelled" and done.reason == "Cancelled by you."
    cache.delete(cancel_key(job.pk))


@pytest.mark.django_db(transaction=True)  # the event writer has its own connection
def test_execute_stops_quietly_when_the_job_was_taken_away(labs, learner, no_celery, settings):
    settings.LABS_SANDBOX_BACKEND = FAKE
    settings.LABS_SANDBOX_OPTIONS = {"events": [("log", {"line": "x"})] * 3}
    settings.LABS_EVENT_BATCH_SECONDS = 0
    job = _running(labs, learner)
    LabJob.objects.filter(pk=job.pk).update(status="queued", attempts=5)  # e.g. the reaper requeued it
    assert lab_job_execute(job) is None
    assert LabJob.objects.get(pk=job.pk).status == "queued"


@pytest.mark.django_db(transaction=True)  # the event writer has its own connection
def test_event_writer_batches_bursts_and_writes_a_lone_event_at_once(labs, learner, no_celery, monkeypatch, settings):
    from apps.labs import job_events
    from apps.labs.sandbox import RunnerEvent

    writes: list[int] = []
    real = job_events.lab_job_events_record
    monkeypatch.setattr(job_events, "lab_job_events_record",
                        lambda job, batch, attempt=None: writes.append(len(batch)) or real(job, batch, attempt=attempt))
    # A batch window far longer than the waits below: an event held for batching would miss them.
    settings.LABS_EVENT_BATCH_SECONDS = 30
    job = _running(labs, learner)
    session = job_events.JobSession(job)
    try:
        for seq in range(1, 121):
            session.on_event(RunnerEvent(seq, "log", {"stream": "stdout", "line": f"burst {seq}"}))
        session.flush()
        assert sum(writes) == 120 and len(writes) <= 5  # 1 at once, then whole batches
        time.sleep(0.3)  # quiet spell
        before = len(writes)
        session.on_event(RunnerEvent(121, "log", {"stream": "stdout", "line": "lone"}))
        wait_for(lambda: LabJob.objects.get(pk=job.pk).last_event_seq == 121, 5,
                 message="a lone event after a quiet spell was held for batching")
        assert len(writes) == before + 1
    finally:
        session.close()
    assert list(LabJobEvent.objects.filter(job=job).values_list("seq", flat=True)) == list(range(1, 122))


@pytest.mark.django_db(transaction=True)  # the event writer has its own connection
def test_event_writer_writes_the_runners_first_event_at_once_right_after_the_notice(
        labs, learner, no_celery, monkeypatch, settings):
    from apps.labs import job_events
    from apps.labs.sandbox import RunnerEvent

    writes: list[list[str]] = []
    real = job_events.lab_job_events_record
    monkeypatch.setattr(job_events, "lab_job_events_record", lambda job, batch, attempt=None: writes.append(
        [type_ for type_, _ in batch]) or real(job, batch, attempt=attempt))
    # Every event counts as part of a burst and a batch window is far longer than the waits
    # below: only the first-event rule can get the runner's first event written in time.
    monkeypatch.setattr(job_events.JobSession, "QUIET_SECONDS", 3600)
    settings.LABS_EVENT_BATCH_SECONDS = 30
    job = _running(labs, learner)
    session = job_events.JobSession(job)
    try:
        session.notice("Starting in the test sandbox.")  # the worker's own line, as lab_job_execute writes it
        wait_for(lambda: LabJob.objects.get(pk=job.pk).last_event_seq == 1, 5, message="the notice was not written")
        session.on_event(RunnerEvent(1, "progress", {"fraction": 0.0, "message": "loading PyTorch"}))
        wait_for(lambda: LabJob.objects.get(pk=job.pk).last_event_seq == 2, 5,
                 message="the runner's first event waited for the batch window")
        assert LabJob.objects.get(pk=job.pk).progress_message == "loading PyTorch"
        session.on_event(RunnerEvent(2, "log", {"stream": "stdout", "line": "second"}))
        session.on_event(RunnerEvent(3, "log", {"stream": "stdout", "line": "third"}))
        session.flush()
    finally:
        session.close()
    # The notice, then the first event on its own; later events of the burst were batched.
    assert writes == [["log"], ["progress"], ["log", "log"]]


def test_submit_runs_the_kinds_preflight_before_anything_is_queued(labs, learner, no_celery, monkeypatch):
    import dataclasses

    from apps.labs import kinds

    calls: list[tuple[dict, dict]] = []

    def preflight(params: dict, resolved: dict) -> None:
        calls.append((params, resolved))
        if params["n_embd"] * params["block_size"] > 128 * 128:
            raise ApplicationError("This model needs about 9 GB and the lab allows 2 GB; use fewer blocks.",
                                   field="params.n_embd")

    kind = kinds.get_kind("char-gpt")
    monkeypatch.setitem(kinds._registry(), "char-gpt", dataclasses.replace(kind, preflight=preflight))

    with pytest.raises(ApplicationError) as refused:
        lab_job_submit(user=learner, lab="char-gpt", params={"n_embd": 256, "block_size": 256})
    assert "needs about 9 GB" in refused.value.message and refused.value.field == "params.n_embd"
    assert not LabJob.objects.exists() and no_celery == []
    # The hook sees the cleaned params (defaults filled in) and, with no registry params, no entries.
    assert calls[0][0]["steps"] == 200 and calls[0][0]["n_embd"] == 256 and calls[0][1] == {}

    job = lab_job_submit(user=learner, lab="char-gpt", params={"steps": 20})
    assert job.status == "queued" and len(calls) == 2


def test_submit_with_a_refusing_preflight_answers_400_over_the_api(labs, learner, no_celery, monkeypatch,
                                                                    api_client):
    import dataclasses

    from apps.labs import kinds

    def preflight(params: dict, resolved: dict) -> None:
        raise ApplicationError("Would need about 3 GB of memory; this lab allows 1 GB.")

    kind = kinds.get_kind("spam-classifier")
    monkeypatch.setitem(kinds._registry(), "spam-classifier", dataclasses.replace(kind, preflight=preflight))
    api_client.force_authenticate(learner)
    response = api_client.post("/api/v1/labs/jobs/", {"lab": "spam-classifier", "params": {}}, format="json")
    assert response.status_code == 400, response.content
    assert "about 3 GB" in response.json()["detail"]
    assert not LabJob.objects.exists() and no_celery == []


def test_a_failed_job_opens_with_its_kinds_own_wording(labs, learner, no_celery):
    from apps.labs import kinds

    job = _running(labs, learner, lab="char-gpt")
    done = lab_job_finish(job, ExitStatus(1, "failed", "The program exited with code 1."))
    assert done.reason.startswith(kinds.get_kind("char-gpt").failure_wording + ": ")
    assert kinds.get_kind("custom-script").failure_wording == "Error in your code"
