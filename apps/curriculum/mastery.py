"""Topic mastery measured by other apps (the quiz), drawn on the roadmap.

The curriculum sits below the apps that measure mastery, so it does not import them: an app
registers a source (``register_mastery_source``) in its AppConfig.ready, a function from a
user to {topic id: mastery 0-100}. The roadmap's progress overlay reads every source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MasterySource = Callable[[Any], dict[int, int]]
_sources: list[MasterySource] = []


def register_mastery_source(source: MasterySource) -> None:
    if source not in _sources:
        _sources.append(source)


def topic_mastery(user: Any) -> dict[int, int]:
    """{topic id: mastery 0-100} for a signed-in user; the highest where sources disagree."""
    merged: dict[int, int] = {}
    for source in _sources:
        for topic_id, value in source(user).items():
            merged[topic_id] = max(value, merged.get(topic_id, 0))
    return merged
