"""Channel-layer group names (the websocket consumer joins the same ones), the cancel
key, and the best-effort push to a group."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def labjob_group(job_id: uuid.UUID | str) -> str:
    return f"labjob.{job_id}"


def queue_group(queue: str) -> str:
    return f"labs.queue.{queue}"


def cancel_key(job_id: uuid.UUID | str) -> str:
    return f"labs:cancel:{job_id}"


def group_send(group: str, message: dict[str, Any]) -> None:
    """Best effort: the database is the record and the consumer replays from it, so a push
    that fails (Redis blip) costs latency, never an event."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.warning("labs: group_send to %s failed", group, exc_info=True)

