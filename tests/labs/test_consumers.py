"""The job websocket through the real ASGI stack (origin check, session auth) and the real
Redis channel layer. Transactional: the consumer reads through database_sync_to_async."""

from __future__ import annotations

import re
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.labs.groups import group_send
from apps.labs.models import LabJob, LabJobEvent
from apps.labs.sandbox import ExitStatus
from apps.labs.services import (
    lab_job_claim,
    lab_job_events_record,
    lab_job_finish,
    lab_job_submit,
    labjob_group,
)
from config.asgi import application
from tests.labs.conftest import run_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

LINE_SEQ = re.compile(r'<li class="[^"]*" data-seq="(\d+)">')


def _headers(user=None) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def _connect(path: str, user=None) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=_headers(user))


@pytest.fixture
def running_job(labs, learner, no_celery):
    job = lab_job_submit(user=learner, lab="custom-script", params={})
    return lab_job_claim(job.pk, worker="w@test", task_id="t")


def _log(job, *lines):
    return lab_job_events_record(job, [("log", {"stream": "stdout", "line": line}) for line in lines],
                                 attempt=job.attempts)


def _close_code(comm) -> int:
    async def run():
        connected, _ = await comm.connect(timeout=5)
        assert connected  # accepted, then closed with a code the browser can read
        message = await comm.receive_output(timeout=5)
        await comm.disconnect(code=message.get("code", 1000), timeout=1)
        return message
    message = run_async(run)
    assert message["type"] == "websocket.close"
    return message["code"]


def test_anonymous_is_closed_with_4401(running_job):
    assert _close_code(_connect(f"/ws/labs/jobs/{running_job.pk}/")) == 4401


def test_other_learner_is_closed_with_4404_and_so_is_an_unknown_job(running_job, other_learner):
    assert _close_code(_connect(f"/ws/labs/jobs/{running_job.pk}/", other_learner)) == 4404
    assert _close_code(_connect(f"/ws/labs/jobs/{uuid.uuid4()}/", other_learner)) == 4404


def test_foreign_origin_is_refused(running_job, learner):
    comm = WebsocketCommunicator(application, f"/ws/labs/jobs/{running_job.pk}/",
                                 headers=[(b"origin", b"http://evil.example"), (b"host", b"testserver")])

    async def run():
        connected, _ = await comm.connect(timeout=5)
        await comm.disconnect(timeout=0.2)
        return connected
    assert run_async(run) is False


def test_owner_gets_replay_then_live_events_without_gaps_or_duplicates(running_job, learner):
    job = running_job
    _log(job, "one", "two", "three")
    seen: list[int] = []
    frames: list[str] = []

    async def receive(comm):
        frame = await comm.receive_from(timeout=5)
        frames.append(frame)
        seen.extend(int(s) for s in LINE_SEQ.findall(frame))
        return frame

    comm = _connect(f"/ws/labs/jobs/{job.pk}/", learner)

    async def run():
        connected, _ = await comm.connect(timeout=5)
        assert connected
        await comm.send_json_to({"after": 1})  # the page already shows event 1
        first = await receive(comm)
        assert 'id="labjob-status"' in first and "Running" in first and "two" in first
        assert 'data-seq="3"' in first.split('id="labjob-cursor"')[1]

        await database_sync_to_async(_log)(job, "four", "five")
        await receive(comm)
        # A push that overlaps the replay (3 was already sent) must not repeat 3.
        events = await database_sync_to_async(
            lambda: [{"seq": e.seq, "type": e.type, "payload": e.payload}
                     for e in LabJobEvent.objects.filter(job=job, seq__gte=3).order_by("seq")])()
        await database_sync_to_async(group_send)(
            labjob_group(job.pk), {"type": "labjob.events", "events": events, "job": {"last_event_seq": 5}})
        assert await comm.receive_nothing(timeout=0.3)

        # Lost pushes (6 and 7 written without one) are filled from the database.
        def write_silently():
            LabJobEvent.objects.bulk_create([LabJobEvent(job=job, seq=s, type="log", payload={"line": f"s{s}"})
                                             for s in (6, 7)])
            LabJob.objects.filter(pk=job.pk).update(last_event_seq=7)
            _log(job, "eight")
        await database_sync_to_async(write_silently)()
        await receive(comm)

        await database_sync_to_async(lab_job_finish)(job, ExitStatus(0, "succeeded", "ok"), {"loss": 0.1})
        final = await receive(comm)
        assert 'id="labjob-result"' in final and "Succeeded" in final and "Run again" in final
        closed = await comm.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 1000}

    run_async(run)
    assert seen == [2, 3, 4, 5, 6, 7, 8]


def test_reconnect_with_after_in_the_url_resumes_there(running_job, learner):
    _log(running_job, *[f"l{i}" for i in range(1, 8)])

    comm = _connect(f"/ws/labs/jobs/{running_job.pk}/?after=5", learner)

    async def run():
        assert (await comm.connect(timeout=5))[0]
        frame = await comm.receive_from(timeout=5)
        await comm.disconnect(timeout=10)  # generous: a loaded CI machine is slow to close
        return frame
    frame = run_async(run)
    assert [int(s) for s in LINE_SEQ.findall(frame)] == [6, 7]


def test_queued_job_shows_its_position_and_staff_may_watch(labs, learner, staff, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})

    comm = _connect(f"/ws/labs/jobs/{job.pk}/?after=0", staff)

    async def run():
        assert (await comm.connect(timeout=5))[0]
        frame = await comm.receive_from(timeout=5)
        await database_sync_to_async(lab_job_claim)(job.pk, "w", "t")
        running = await comm.receive_from(timeout=5)
        await comm.disconnect(timeout=10)  # generous: a loaded CI machine is slow to close
        return frame, running
    frame, running = run_async(run)
    assert "Queued" in frame and "#1 in the CPU queue" in frame
    assert "Running" in running and 'id="labjob-clock"' in running
