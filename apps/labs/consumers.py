"""The job page's websocket: authorize, replay from the database, then forward live events.

Protocol: connect to ``/ws/labs/jobs/<uuid>/`` and either pass ``?after=<seq>`` or send
``{"after": <seq>}`` as the first message (the page's script does the latter on every
(re)connect with the last seq it has). The consumer joins the job's group *before*
reading the database, replays events after that seq, then forwards group messages,
dropping any seq it already sent and filling any gap from the database - so across the
replay/live boundary, and across reconnects, no event is missed or shown twice.

Replays read the database a page at a time (LABS_REPLAY_PAGE_SIZE events, one frame
each), never a whole job, and a connection gets at most RESUME_BURST replays at once and
RESUME_PER_SECOND after that: extra ``after`` messages are folded into one deferred replay
from the latest ``after`` asked for.

Frames are HTML for htmx's ws extension (out-of-band swaps, see ``live.py``). Close codes:
4401 not signed in, 4404 no such job for this user (someone else's job, unless the user
holds ``labs.view_any_labjob``), 1000 the job ended.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.labs import live
from apps.labs.selectors import (
    lab_job_events_dicts,
    lab_job_live_view,
    lab_job_position_by_id,
    lab_job_replay,
)
from apps.labs.services import labjob_group, queue_group

RESUME_BURST = 2
RESUME_PER_SECOND = 2.0


def _int(value: Any) -> int | None:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return None


class LabJobConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.job_id = str(self.scope["url_route"]["kwargs"]["job_id"])
        self.groups_joined: list[str] = []
        self.ready = False
        self.sent_seq = 0
        self.snapshot: dict[str, Any] = {}
        self.status_key: tuple | None = None
        self.progress_key: str | None = None
        self.resume_tokens = float(RESUME_BURST)
        self.resume_stamp = time.monotonic()
        self.pending_after: int | None = None
        self.deferred: asyncio.Task | None = None
        user = self.scope.get("user")
        # Accept, then close with a code: a browser sees 4401/4404 (and htmx does not retry),
        # where a refused handshake would look like a network error and be retried forever.
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=4401)
            return
        self.view = await database_sync_to_async(lab_job_live_view)(job_id=self.job_id, user=user)
        if self.view is None:
            await self.accept()
            await self.close(code=4404)
            return
        for group in (labjob_group(self.job_id), queue_group(self.view["queue"])):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.accept()
        after = _int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", [None])[0])
        if after is not None:
            await self.request_resume(after)

    async def disconnect(self, code: int) -> None:
        if self.deferred is not None:
            self.deferred.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and "after" in content:
            after = _int(content["after"])
            if after is not None:
                await self.request_resume(after)

    async def request_resume(self, after: int) -> None:
        """Replay now if this connection has a token left; otherwise remember ``after`` and
        replay once when the next token is due (a client sending ``after`` in a loop gets a
        few replays a second, not one per message)."""
        now = time.monotonic()
        self.resume_tokens = min(
            float(RESUME_BURST), self.resume_tokens + (now - self.resume_stamp) * RESUME_PER_SECOND
        )
        self.resume_stamp = now
        if self.deferred is None and self.resume_tokens >= 1:
            self.resume_tokens -= 1
            await self.resume(after)
            return
        self.pending_after = after
        if self.deferred is None:
            wait = (1 - self.resume_tokens) / RESUME_PER_SECOND
            self.deferred = asyncio.ensure_future(self._resume_later(wait))

    async def _resume_later(self, wait: float) -> None:
        await asyncio.sleep(max(0.0, wait))
        # Through our own channel, so the replay runs in turn with group messages (the
        # consumer handles one message at a time), never interleaved with them.
        await self.channel_layer.send(self.channel_name, {"type": "labjob.resume"})

    async def labjob_resume(self, message: dict[str, Any]) -> None:
        after, self.pending_after = self.pending_after, None
        self.resume_tokens = 0.0
        self.resume_stamp = time.monotonic()
        self.deferred = None
        if after is not None:
            await self.resume(after)

    async def resume(self, after: int) -> None:
        """Replay from the database after ``after`` (the group is already joined), a page per
        query and per frame, up to the snapshot's last seq; live events arriving meanwhile
        wait in the channel layer and are de-duplicated by seq."""
        snapshot, events = await database_sync_to_async(lab_job_replay)(job_id=self.job_id, after=after)
        self.sent_seq = after
        self.snapshot = snapshot
        self.status_key = None
        self.ready = True
        await self._send_pages(events, up_to=int(snapshot.get("last_event_seq") or 0))
        if self.snapshot.get("final"):
            await self.close(code=1000)

    async def _send_pages(self, events: list[dict[str, Any]], *, up_to: int) -> None:
        """Send ``events`` and the pages after them, one frame each, until seq ``up_to``; only
        the last frame carries the snapshot's final state (after every log line)."""
        while True:
            more = bool(events) and events[-1]["seq"] < up_to
            await self._forward(events, last_page=not more)
            if not more:
                return
            events = await database_sync_to_async(lab_job_events_dicts)(
                job_id=self.job_id, after=self.sent_seq, up_to=up_to
            )

    # --- group messages ---------------------------------------------------------------------

    async def labjob_events(self, message: dict[str, Any]) -> None:
        if not self.ready:
            return  # the replay at resume() will include it
        self.snapshot.update(message.get("job") or {})
        events = [e for e in message.get("events", []) if e["seq"] > self.sent_seq]
        newest = events[-1]["seq"] if events else self.sent_seq
        up_to = int(self.snapshot.get("last_event_seq") or 0)
        if (events and events[0]["seq"] > self.sent_seq + 1) or newest < up_to:
            # A gap (a push was lost or overtaken): the database has everything, read in pages.
            events = await database_sync_to_async(lab_job_events_dicts)(
                job_id=self.job_id, after=self.sent_seq, up_to=up_to
            )
            await self._send_pages(events, up_to=up_to)
        else:
            await self._forward(events)
        if self.snapshot.get("final"):
            await self.close(code=1000)

    async def labs_queue_moved(self, message: dict[str, Any]) -> None:
        if not self.ready or self.snapshot.get("status") != "queued":
            return
        status, position = await database_sync_to_async(lab_job_position_by_id)(job_id=self.job_id)
        if status == "queued":
            self.snapshot["position"] = position
            await self._forward([])

    # --- sending --------------------------------------------------------------------------------

    async def _forward(self, events: list[dict[str, Any]], *, last_page: bool = True) -> None:
        """One frame: ``events`` (at most a page) and whatever of the snapshot changed."""
        snapshot = self.snapshot
        # The stage is part of the status line (the live region), so a new stage re-renders it.
        key = (
            snapshot.get("status"),
            snapshot.get("position"),
            snapshot.get("cancel_requested"),
            live.job_stage(snapshot),
        )
        status_changed = key != self.status_key
        final_now = last_page and bool(snapshot.get("final"))
        if not events and not status_changed and not final_now:
            return
        if events:
            self.sent_seq = events[-1]["seq"]
        # The final result goes with the last page, after every log line.
        frame_snapshot = snapshot if last_page else {**snapshot, "final": False}
        progress = live.progress_key(frame_snapshot)
        await self.send(
            text_data=live.ws_message(
                snapshot=frame_snapshot,
                events=events,
                chart_metrics=tuple(self.view["chart_metrics"]),
                status_changed=status_changed,
                last_seq=self.sent_seq,
                is_owner=self.view["is_owner"],
                progress_changed=progress != self.progress_key,
            )
        )
        self.status_key = key
        self.progress_key = progress
