"""Writes for job readiness: load the checklist from content/, tick items, pick target roles.

Every write acts on the caller's own rows only (``user`` is always the signed-in user);
there is no way to name another learner.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from apps.career.readiness_models import (
    MAX_TARGET_ROLES,
    ReadinessCategory,
    ReadinessItem,
    ReadinessTick,
    TargetRole,
)
from apps.core.errors import ApplicationError, PermissionDenied

# The curriculum loader's YAML reader keeps line numbers, so a bad entry names its line.
from apps.curriculum.loader import LineDict, _Errors, _label, _read_yaml

READINESS_FILE = Path("career") / "readiness.yaml"
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ITEM_KEYS = {"slug", "category", "text", "why", "link", "link_label"}
# Bounds from the model, so content cannot be cut short by the database.
TEXT_MAX = ReadinessItem._meta.get_field("text").max_length
LINK_MAX = ReadinessItem._meta.get_field("link").max_length
LINK_LABEL_MAX = ReadinessItem._meta.get_field("link_label").max_length


def _require_user(user: Any) -> None:
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Log in to track your job readiness.")


# --- Loading the checklist -------------------------------------------------------------


def _check_item(errors: _Errors, label: str, entry: Any, index: int) -> dict[str, Any] | None:
    if not isinstance(entry, LineDict):
        errors.add(label, None, f"item {index + 1} must be a mapping")
        return None
    line = entry.line
    unknown = sorted(set(map(str, entry)) - ITEM_KEYS)
    for key in unknown:
        errors.add(label, entry.line_of(key), f"unknown key {key!r} (allowed: {', '.join(sorted(ITEM_KEYS))})")
    data: dict[str, Any] = {}
    for key in ("slug", "category", "text"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            errors.add(label, entry.line_of(key) if key in entry else line, f"{key} is required and must be text")
            return None
        data[key] = value.strip()
    for key in ("why", "link", "link_label"):
        value = entry.get(key, "")
        if not isinstance(value, str):
            errors.add(label, entry.line_of(key), f"{key} must be text")
            return None
        data[key] = value.strip()
    if not SLUG_RE.match(data["slug"]):
        errors.add(label, entry.line_of("slug"), f"slug {data['slug']!r}: use lowercase letters, digits and hyphens")
    if data["category"] not in ReadinessCategory.values:
        errors.add(
            label,
            entry.line_of("category"),
            f"category {data['category']!r} is not one of {', '.join(ReadinessCategory.values)}",
        )
    if len(data["text"]) > TEXT_MAX or "\n" in data["text"]:
        errors.add(label, entry.line_of("text"), f"text must be one line of at most {TEXT_MAX} characters")
    link = data["link"]
    if link and not ((link.startswith("/") and not link.startswith("//")) or link.startswith("https://")):
        errors.add(label, entry.line_of("link"), "link must be a site path (/...) or an https:// URL")
    if len(link) > LINK_MAX:
        errors.add(label, entry.line_of("link"), f"link is longer than {LINK_MAX} characters")
    if bool(link) != bool(data["link_label"]):
        errors.add(label, line, "link and link_label go together: give both or neither")
    if len(data["link_label"]) > LINK_LABEL_MAX:
        errors.add(label, entry.line_of("link_label"), f"link_label is longer than {LINK_LABEL_MAX} characters")
    return data


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def readiness_items_load(content_dir: Path) -> str:
    """Validate and load ``content/career/readiness.yaml`` (a ``load_content`` loader).

    Everything is checked before anything is written; a problem raises ``ApplicationError``
    naming the file and line. Items are upserted by slug (ticks survive); items no longer
    in the file are deactivated, not deleted. Returns a one-line summary.
    """
    content_dir = Path(content_dir)
    path = content_dir / READINESS_FILE
    label = _label(path, content_dir)
    errors = _Errors()
    if not path.is_file():
        errors.add(label, None, "file not found")
        errors.raise_if_any()
    raw = _read_yaml(path, label, errors)
    items: list[dict[str, Any]] = []
    if raw is not None and not isinstance(raw, list):
        errors.add(label, None, "must be a list of items")
    for index, entry in enumerate(raw or []):
        data = _check_item(errors, label, entry, index)
        if data is not None:
            data["order"] = index
            items.append(data)
    seen: set[str] = set()
    for data in items:
        if data["slug"] in seen:
            errors.add(label, None, f"slug {data['slug']!r} is used twice")
        seen.add(data["slug"])
    errors.raise_if_any()

    changed = 0
    with transaction.atomic():
        existing = {item.slug: item for item in ReadinessItem.objects.select_for_update()}
        for data in items:
            digest = _digest(data)
            item = existing.get(data["slug"])
            if item is not None and item.source_hash == digest and item.is_active:
                continue
            fields = {k: v for k, v in data.items() if k != "slug"}
            if item is None:
                ReadinessItem.objects.create(slug=data["slug"], source_hash=digest, is_active=True, **fields)
            else:
                for name, value in fields.items():
                    setattr(item, name, value)
                item.source_hash = digest
                item.is_active = True
                item.save()
            changed += 1
        changed += ReadinessItem.objects.filter(is_active=True).exclude(slug__in=seen).update(is_active=False)
    return f"readiness: {len(items)} checklist items ({changed} changed)"


# --- Ticks -----------------------------------------------------------------------------


def readiness_tick_set(*, user: Any, item: ReadinessItem, ticked: bool) -> bool:
    """Tick or untick one checklist item for ``user``; returns whether it is ticked now."""
    _require_user(user)
    if not item.is_active:
        raise ApplicationError("This checklist item has been retired.", field="item")
    if ticked:
        try:
            with transaction.atomic():
                ReadinessTick.objects.get_or_create(user=user, item=item)
        except IntegrityError:  # a double click raced us: ticked either way
            pass
    else:
        ReadinessTick.objects.filter(user=user, item=item).delete()
    return ticked


def readiness_tick_toggle(*, user: Any, item: ReadinessItem) -> bool:
    """Flip one item for ``user``; returns whether it is ticked now."""
    _require_user(user)
    ticked = ReadinessTick.objects.filter(user=user, item=item).exists()
    return readiness_tick_set(user=user, item=item, ticked=not ticked)


# --- Target roles ----------------------------------------------------------------------


def target_role_add(*, user: Any, role: Any) -> TargetRole:
    """Add ``role`` to the user's targets (idempotent); at most ``MAX_TARGET_ROLES``."""
    _require_user(user)
    with transaction.atomic():
        # Lock the user's row so two concurrent adds cannot both pass the cap.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        current = list(TargetRole.objects.filter(user=user))
        for target in current:
            if target.role_id == role.pk:
                return target
        if len(current) >= MAX_TARGET_ROLES:
            raise ApplicationError(
                f"You can aim for at most {MAX_TARGET_ROLES} roles at once: remove one first.", field="role"
            )
        try:
            with transaction.atomic():
                return TargetRole.objects.create(user=user, role=role)
        except IntegrityError:  # added meanwhile by a parallel request
            return TargetRole.objects.get(user=user, role=role)


def target_role_remove(*, user: Any, role: Any) -> bool:
    """Remove ``role`` from the user's targets; returns whether it was there."""
    _require_user(user)
    deleted, _ = TargetRole.objects.filter(user=user, role=role).delete()
    return bool(deleted)
