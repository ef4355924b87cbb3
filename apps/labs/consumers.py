"""The job page's websocket: authorize, replay from the database, then forward live events.

Protocol: connect to ``/ws/labs/jobs/<uuid>/`` and either pass ``?after=<seq>`` or send
``{"after": <seq>}`` as the first message (the page's script does the latter on every
(re)connect with the last seq it has). The consumer joins the job's group *before*
reading the database, replays events after that seq, then forwards group messages,
dropping any seq it already sent and filling any gap from the database - so across the
replay/live boundary, and across reconnects, no event is missed or shown twice.

Frames are HTML for htmx's ws extension (out-of-band swaps, see ``live.py``). Close codes:
4401 not signed in, 4403 not the owner or staff (or no such job), 1000 the job ended.
"""

from __future__ import annotations

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

REPLAY_CHUNK = 500


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
        user = self.scope.get("user")
        # Accept, then close with a code: a browser sees 4401/4403 (and htmx does not retry),
        # where a refused handshake would look like a network error and be retried forever.
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=4401)
            return
        self.view = await database_sync_to_async(lab_job_live_view)(job_id=self.job_id, user=user)
        if self.view is None:
            await self.accept()
            await self.close(code=4403)
            return
        for group in (labjob_group(self.job_id), queue_group(self.view["queue"])):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.accept()
        after = _int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", [None])[0])
        if after is not None:
            await self.resume(after)

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and "after" in content:
            after = _int(content["after"])
            if after is not None:
                await self.resume(after)

    async def resume(self, after: int) -> None:
        """Replay from the database after ``after`` (the group is already joined)."""
        snapshot, events = await database_sync_to_async(lab_job_replay)(job_id=self.job_id, after=after)
        self.sent_seq = after
        self.snapshot = snapshot
        self.status_key = None
        self.ready = True
        await self._forward(events)

    # --- group messages ---------------------------------------------------------------------

    async def labjob_events(self, message: dict[str, Any]) -> None:
        if not self.ready:
            return  # the replay at resume() will include it
        self.snapshot.update(message.get("job") or {})
        events = [e for e in message.get("events", []) if e["seq"] > self.sent_seq]
        newest = events[-1]["seq"] if events else self.sent_seq
        if (events and events[0]["seq"] > self.sent_seq + 1) or newest < int(self.snapshot.get("last_event_seq") or 0):
            # A gap (a push was lost or overtaken): the database has everything.
            events = await database_sync_to_async(lab_job_events_dicts)(job_id=self.job_id, after=self.sent_seq)
        await self._forward(events)

    async def labs_queue_moved(self, message: dict[str, Any]) -> None:
        if not self.ready or self.snapshot.get("status") != "queued":
            return
        status, position = await database_sync_to_async(lab_job_position_by_id)(job_id=self.job_id)
        if status == "queued":
            self.snapshot["position"] = position
            await self._forward([])

    # --- sending --------------------------------------------------------------------------------

    async def _forward(self, events: list[dict[str, Any]]) -> None:
        snapshot = self.snapshot
        key = (snapshot.get("status"), snapshot.get("position"), snapshot.get("cancel_requested"))
        status_changed = key != self.status_key
        chunks = [events[i:i + REPLAY_CHUNK] for i in range(0, len(events), REPLAY_CHUNK)] or [[]]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            if not chunk and not status_changed and not (last and snapshot.get("final")):
                continue
            if chunk:
                self.sent_seq = chunk[-1]["seq"]
            # The final result goes with the last chunk, after every log line.
            frame_snapshot = snapshot if last else {**snapshot, "final": False}
            await self.send(text_data=live.ws_message(
                snapshot=frame_snapshot, events=chunk, chart_metrics=tuple(self.view["chart_metrics"]),
                status_changed=status_changed and index == 0, last_seq=self.sent_seq,
                is_owner=self.view["is_owner"],
            ))
        self.status_key = key
        if snapshot.get("final"):
            await self.close(code=1000)
