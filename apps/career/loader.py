"""Load the career catalogue from content/career/ (see content/FORMAT.md).

``career_load(content_dir)`` reads paths.yaml, salaries.yaml, time_to_job_ready.yaml and
guide_lists.yaml (readiness.yaml belongs to the readiness loader). Like the curriculum
loader it validates everything first - a bad file loads nothing and the error names the
file and line - then upserts by slug in one transaction. A row whose file entry did not
change since the last load (``source_hash``) is not rewritten, so a second run reports 0
changed.

Roles link to roadmap topics by slug, so this loader runs after the curriculum loader
(settings.CONTENT_LOADERS) and refuses a slug that is not a topic.

Tracks and roles that leave the file are kept: learners' target roles point at them.
Salary bands, estimates and guide lists that leave the file are deleted, since nothing
points at them and a stale salary figure would be worse than none.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from apps.career.models import GuideEntry, GuideList, JobReadyEstimate, Level, Region, Role, SalaryBand, Track
from apps.core.errors import ApplicationError
from apps.curriculum.loader import F, LineDict, _check_choice, _check_item, _Errors, _label, _read_yaml
from apps.curriculum.models import Topic

FILES = ("paths.yaml", "salaries.yaml", "time_to_job_ready.yaml", "guide_lists.yaml")
# A year outside this window is a typo, not a forecast.
YEAR_MIN, YEAR_MAX = 2000, 2100
# The largest yearly amount we accept; the guide's highest figure is $1M.
AMOUNT_MAX = 100_000_000

TRACK_SPEC = {
    "slug": F("slug"),
    "title": F("str"),
    "summary": F("text"),
    "roles": F("list", default=list),
}
ROLE_SPEC = {
    "slug": F("slug"),
    "title": F("str"),
    "summary": F("text"),
    "what_it_does": F("strs", required=False, default=list),
    "skills": F("strs", required=False, default=list),
    "topics": F("slugs", required=False, default=list),
}
SALARY_SPEC = {
    "slug": F("slug"),
    "role": F("str"),
    "role_slug": F("slug", required=False),
    "level": F("str"),
    "level_label": F("text", required=False, default=""),
    "region": F("str"),
    "region_label": F("text", required=False, default=""),
    "currency": F("str"),
    "base_min": F("int?", required=False),
    "base_max": F("int?", required=False),
    "total_min": F("int?", required=False),
    "total_max": F("int?", required=False),
    "open_ended": F("bool", required=False, default=False),
    "pct_of_us_min": F("int?", required=False),
    "pct_of_us_max": F("int?", required=False),
    "note": F("text", required=False, default=""),
    "year": F("int"),
    "source": F("str"),
}
ESTIMATE_SPEC = {
    "slug": F("slug"),
    "background": F("str"),
    "months_min": F("int"),
    "months_max": F("int"),
    "notes": F("text", required=False, default=""),
}
GUIDE_SPEC = {
    "slug": F("slug"),
    "title": F("str"),
    "intro": F("text", required=False, default=""),
    "detail_label": F("text", required=False, default=""),
    "points_label": F("text", required=False, default=""),
    "entries": F("list", default=list),
}
ENTRY_SPEC = {
    "title": F("str"),
    "detail": F("text", required=False, default=""),
    "points": F("strs", required=False, default=list),
}


@dataclass
class _Content:
    tracks: list[dict[str, Any]] = field(default_factory=list)  # each with "roles": [role dicts]
    salaries: list[dict[str, Any]] = field(default_factory=list)
    estimates: list[dict[str, Any]] = field(default_factory=list)
    guides: list[dict[str, Any]] = field(default_factory=list)  # each with "entries": [entry dicts]


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _top_list(errors: _Errors, label: str, data: Any) -> list:
    if data is None:
        return []
    if not isinstance(data, list):
        errors.add(label, None, "must be a list of entries")
        return []
    return data


def _unique(errors: _Errors, label: str, item: LineDict, seen: set[str], slug: str, what: str) -> None:
    if slug in seen:
        errors.add(label, item.line_of("slug"), f"{what} slug {slug!r} appears twice")
    seen.add(slug)


def _check_range(errors: _Errors, label: str, item: LineDict, low_key: str, high_key: str, what: str) -> None:
    low, high = item.get(low_key), item.get(high_key)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        errors.add(label, item.line_of(low_key), f"{what}: {low_key!r} ({low}) is above {high_key!r} ({high})")
    if (low is None) != (high is None):
        errors.add(label, item.line, f"{what}: give both {low_key!r} and {high_key!r}, or neither")


def _parse_paths(errors: _Errors, label: str, data: Any, topic_slugs: set[str], out: _Content) -> None:
    seen_tracks: set[str] = set()
    seen_roles: set[str] = set()
    for raw in _top_list(errors, label, data):
        track = _check_item(errors, label, raw, TRACK_SPEC, "track")
        if track is None:
            continue
        _unique(errors, label, raw, seen_tracks, track["slug"], "track")
        roles_raw = raw.get("roles")
        if not isinstance(roles_raw, list) or not roles_raw:
            errors.add(label, raw.line_of("roles"), f"track {track['slug']!r}: 'roles' must be a non-empty list")
            roles_raw = []
        roles = []
        for role_raw in roles_raw:
            role = _check_item(errors, label, role_raw, ROLE_SPEC, "role", line=raw.line_of("roles"))
            if role is None:
                continue
            _unique(errors, label, role_raw, seen_roles, role["slug"], "role")
            for slug in role["topics"]:
                if slug not in topic_slugs:
                    errors.add(
                        label,
                        role_raw.line_of("topics"),
                        f"role {role['slug']!r}: topic {slug!r} is not a roadmap topic (content/roadmap/)",
                    )
            roles.append(role)
        track["roles"] = roles
        out.tracks.append(track)


def _parse_salaries(errors: _Errors, label: str, data: Any, role_slugs: set[str], out: _Content) -> None:
    seen: set[str] = set()
    for raw in _top_list(errors, label, data):
        if isinstance(raw, LineDict) and "open_ended" in raw and not isinstance(raw["open_ended"], bool):
            errors.add(label, raw.line_of("open_ended"), "salary: 'open_ended' must be true or false")
            continue
        row = _check_item(errors, label, raw, SALARY_SPEC, "salary")
        if row is None:
            continue
        what = f"salary {row['slug']!r}"
        _unique(errors, label, raw, seen, row["slug"], "salary")
        _check_choice(errors, label, raw, "level", row["level"], Level.values, what)
        _check_choice(errors, label, raw, "region", row["region"], Region.values, what)
        if not (len(row["currency"]) == 3 and row["currency"].isalpha() and row["currency"].isupper()):
            errors.add(label, raw.line_of("currency"), f"{what}: 'currency' must be a three-letter code like USD")
        if row["role_slug"] and row["role_slug"] not in role_slugs:
            errors.add(label, raw.line_of("role_slug"), f"{what}: role_slug {row['role_slug']!r} is not in paths.yaml")
        if not YEAR_MIN <= row["year"] <= YEAR_MAX:
            errors.add(label, raw.line_of("year"), f"{what}: 'year' must be between {YEAR_MIN} and {YEAR_MAX}")
        for key in ("base_min", "base_max", "total_min", "total_max"):
            value = row[key]
            if value is not None and not 0 <= value <= AMOUNT_MAX:
                errors.add(label, raw.line_of(key), f"{what}: {key!r} must be between 0 and {AMOUNT_MAX}")
        for key in ("pct_of_us_min", "pct_of_us_max"):
            value = row[key]
            if value is not None and not 1 <= value <= 200:
                errors.add(label, raw.line_of(key), f"{what}: {key!r} must be a percentage between 1 and 200")
        for low, high in (("base_min", "base_max"), ("total_min", "total_max"), ("pct_of_us_min", "pct_of_us_max")):
            _check_range(errors, label, raw, low, high, what)
        if row["base_min"] is None and row["total_min"] is None and row["pct_of_us_min"] is None:
            errors.add(label, raw.line, f"{what}: give a base range, a total range or a share of the US figure")
        out.salaries.append(row)


def _parse_estimates(errors: _Errors, label: str, data: Any, out: _Content) -> None:
    seen: set[str] = set()
    for raw in _top_list(errors, label, data):
        row = _check_item(errors, label, raw, ESTIMATE_SPEC, "estimate")
        if row is None:
            continue
        what = f"estimate {row['slug']!r}"
        _unique(errors, label, raw, seen, row["slug"], "estimate")
        if not 0 <= row["months_min"] <= 240 or not 0 <= row["months_max"] <= 240:
            errors.add(label, raw.line_of("months_min"), f"{what}: months must be between 0 and 240")
        _check_range(errors, label, raw, "months_min", "months_max", what)
        out.estimates.append(row)


def _parse_guides(errors: _Errors, label: str, data: Any, out: _Content) -> None:
    seen: set[str] = set()
    for raw in _top_list(errors, label, data):
        guide = _check_item(errors, label, raw, GUIDE_SPEC, "list")
        if guide is None:
            continue
        _unique(errors, label, raw, seen, guide["slug"], "list")
        entries_raw = raw.get("entries")
        if not isinstance(entries_raw, list) or not entries_raw:
            errors.add(label, raw.line_of("entries"), f"list {guide['slug']!r}: 'entries' must be a non-empty list")
            entries_raw = []
        entries = []
        for entry_raw in entries_raw:
            entry = _check_item(errors, label, entry_raw, ENTRY_SPEC, f"entry of {guide['slug']!r}")
            if entry is not None:
                entries.append(entry)
        guide["entries"] = entries
        out.guides.append(guide)


def _validate(content_dir: Path) -> _Content:
    errors = _Errors()
    folder = content_dir / "career"
    data: dict[str, Any] = {}
    for name in FILES:
        path = folder / name
        label = _label(path, content_dir)
        if not path.is_file():
            errors.add(label, None, "file is missing")
            continue
        data[name] = _read_yaml(path, label, errors)
    out = _Content()
    topic_slugs = set(Topic.objects.values_list("slug", flat=True))
    if "paths.yaml" in data:
        _parse_paths(errors, _label(folder / "paths.yaml", content_dir), data["paths.yaml"], topic_slugs, out)
    role_slugs = {role["slug"] for track in out.tracks for role in track["roles"]}
    if "salaries.yaml" in data:
        _parse_salaries(errors, _label(folder / "salaries.yaml", content_dir), data["salaries.yaml"], role_slugs, out)
    if "time_to_job_ready.yaml" in data:
        label = _label(folder / "time_to_job_ready.yaml", content_dir)
        _parse_estimates(errors, label, data["time_to_job_ready.yaml"], out)
    if "guide_lists.yaml" in data:
        _parse_guides(errors, _label(folder / "guide_lists.yaml", content_dir), data["guide_lists.yaml"], out)
    errors.raise_if_any()
    return out


def _upsert(model, slug: str, fields: dict[str, Any], *, also_hash: Any = None) -> tuple[Any, bool]:
    """Create or update the row ``slug``; return it and whether anything was written.

    ``also_hash`` is file content stored outside the row (topic links, list entries): it
    takes part in the change check so that editing it alone still rewrites the row.
    """
    digest = _hash([fields, also_hash])
    row = model.objects.filter(slug=slug).first()
    if row is not None and row.source_hash == digest:
        return row, False
    if row is None:
        row = model(slug=slug)
    for key, value in fields.items():
        setattr(row, key, value)
    row.source_hash = digest
    row.save()
    return row, True


def _write(content: _Content) -> int:
    changed = 0
    topics = {t.slug: t for t in Topic.objects.all()}
    roles: dict[str, Role] = {}
    for t_pos, track_data in enumerate(content.tracks):
        track_fields = {"title": track_data["title"], "summary": track_data["summary"], "position": t_pos}
        track, wrote = _upsert(Track, track_data["slug"], track_fields)
        changed += wrote
        for r_pos, role_data in enumerate(track_data["roles"]):
            fields = {
                "track_id": track.id,
                "title": role_data["title"],
                "summary": role_data["summary"],
                "what_it_does": role_data["what_it_does"],
                "skills": role_data["skills"],
                "position": r_pos,
            }
            role, wrote = _upsert(Role, role_data["slug"], fields, also_hash=role_data["topics"])
            if wrote:
                role.topics.set([topics[s] for s in role_data["topics"]])
            changed += wrote
            roles[role.slug] = role

    for pos, row in enumerate(content.salaries):
        fields = {k: v for k, v in row.items() if k not in ("slug", "role", "role_slug")}
        fields.update(role_label=row["role"], role_id=roles[row["role_slug"]].id if row["role_slug"] else None)
        changed += _upsert(SalaryBand, row["slug"], {**fields, "position": pos})[1]
    stale = SalaryBand.objects.exclude(slug__in=[r["slug"] for r in content.salaries])
    changed += stale.delete()[0]

    for pos, row in enumerate(content.estimates):
        fields = {k: v for k, v in row.items() if k != "slug"}
        changed += _upsert(JobReadyEstimate, row["slug"], {**fields, "position": pos})[1]
    changed += JobReadyEstimate.objects.exclude(slug__in=[r["slug"] for r in content.estimates]).delete()[0]

    for pos, guide_data in enumerate(content.guides):
        fields = {k: v for k, v in guide_data.items() if k not in ("slug", "entries")}
        guide, wrote = _upsert(
            GuideList, guide_data["slug"], {**fields, "position": pos}, also_hash=guide_data["entries"]
        )
        if wrote:
            # Entries have no identity of their own (nothing points at them): replace them.
            guide.entries.all().delete()
            GuideEntry.objects.bulk_create(
                GuideEntry(guide_list=guide, position=i, **entry) for i, entry in enumerate(guide_data["entries"])
            )
        changed += wrote
    stale_guides = GuideList.objects.exclude(slug__in=[g["slug"] for g in content.guides])
    changed += stale_guides.count()
    stale_guides.delete()
    return changed


def career_load(content_dir: Path) -> str:
    """Validate and load content/career/ (tracks, roles, salaries, job-ready estimates, lists).

    Raises ``ApplicationError`` naming file and line, before writing anything, when any file
    is wrong. Returns a one-line summary with the number of rows that changed.
    """
    content_dir = Path(content_dir)
    if not content_dir.is_dir():
        raise ApplicationError(f"content folder {content_dir} does not exist")
    content = _validate(content_dir)
    with transaction.atomic():
        changed = _write(content)
    roles = sum(len(t["roles"]) for t in content.tracks)
    return (
        f"career: {len(content.tracks)} tracks, {roles} roles, {len(content.salaries)} salary bands, "
        f"{len(content.estimates)} job-ready estimates, {len(content.guides)} guide lists ({changed} changed)"
    )
