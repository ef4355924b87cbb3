"""Load the shipped curriculum from content/ (see content/FORMAT.md).

``curriculum_load(content_dir)`` validates every file before it writes anything, so a bad
file loads nothing and the error names the file and line. Then it upserts by slug in one
transaction.

Which side wins when a row was edited in the admin/author area? content/ is the source of
truth for shipped content, but a reload must not undo an author's edit every time the
server restarts (``make run`` loads content on start). So each row remembers a hash of
what its file said when it was last loaded (``source_hash``): a row whose file entry did
not change is left alone (a second run writes nothing and reports 0 changed); a row whose
file entry changed is overwritten by the file. An article overwritten this way gets a new
version and an ``ArticleRevision`` noted "loaded from content/", and the author's earlier
text stays in its revision history - nothing is lost.

Rows that disappeared from content/ are kept (learners' progress points at them).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.search import services as search_services
from apps.curriculum.markdown import body_problems
from apps.curriculum.models import (
    Article,
    ArticleRevision,
    ChecklistItem,
    GlossaryTerm,
    MilestoneProject,
    Phase,
    Resource,
    Section,
    SubTrack,
    Topic,
)

LOADED_NOTE = "loaded from content/"
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PHASE_FILE_RE = re.compile(r"^phase-(\d+)\.yaml$")
GLOSSARY_SHORT_MAX = 200
MAX_ERRORS_IN_MESSAGE = 20


# --- YAML with line numbers -----------------------------------------------------------


class LineDict(dict):
    """A YAML mapping that remembers the line it starts on and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            )
        if key in mapping:
            # Silently keeping the last duplicate hides typos; say where the second one is.
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# --- Errors ----------------------------------------------------------------------------


@dataclass
class _Errors:
    items: list[str] = field(default_factory=list)

    def add(self, file: str, line: int | None, message: str) -> None:
        where = f"{file}, line {line}" if line else file
        self.items.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_ERRORS_IN_MESSAGE]
        more = len(self.items) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        noun = "problem" if len(self.items) == 1 else "problems"
        raise ApplicationError(
            f"content not loaded, nothing was written ({len(self.items)} {noun}): {text}",
            extra={"errors": self.items},
        )


def _read_yaml(path: Path, label: str, errors: _Errors, *, text: str | None = None, line_offset: int = 0) -> Any:
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
        # Blank lines in front keep line numbers equal to the file's (front matter starts
        # after the opening '---').
        return yaml.load("\n" * line_offset + text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError as exc:
        errors.add(label, None, f"is not UTF-8 ({exc.reason} at byte {exc.start})")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        errors.add(label, mark.line + 1 if mark else None, f"invalid YAML: {problem}")
    except yaml.YAMLError as exc:
        errors.add(label, None, f"invalid YAML: {exc}")
    return None


# --- Field checks ----------------------------------------------------------------------


@dataclass(frozen=True)
class F:
    """One key of an item: its kind, whether it is required, and its default."""

    kind: str  # "str" | "text" | "int" | "int?" | "slug" | "slugs" | "strs" | "weeks"
    required: bool = True
    default: Any = None


def _check_value(kind: str, value: Any) -> str | None:
    """Return what is wrong with ``value`` for ``kind``, or None."""
    if kind in ("str", "text"):
        if not isinstance(value, str):
            return f"must be text, not {type(value).__name__}"
        if kind == "str" and not value.strip():
            return "must not be empty"
        if kind == "str" and "\n" in value.strip():
            return "must be a single line"
    elif kind == "slug":
        if not isinstance(value, str) or not SLUG_RE.match(value):
            return f"{value!r} is not a slug (lowercase letters, digits and single hyphens)"
    elif kind in ("int", "int?"):
        if value is None and kind == "int?":
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be a whole number, not {value!r}"
    elif kind == "strs":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return "must be a list of non-empty texts"
    elif kind == "slugs":
        if not isinstance(value, list):
            return "must be a list of slugs"
        bad = [v for v in value if not isinstance(v, str) or not SLUG_RE.match(v)]
        if bad:
            return f"{bad[0]!r} is not a slug"
        if len(set(value)) != len(value):
            return "lists a slug twice"
    elif kind == "weeks":
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            return "must be [first_week, last_week]"
        if not 1 <= value[0] <= value[1]:
            return "must be two weeks, first >= 1 and first <= last"
    return None


def _check_item(
    errors: _Errors, label: str, item: Any, spec: dict[str, F], what: str, *, line: int | None = None
) -> dict[str, Any] | None:
    """Check one mapping against ``spec``; return it with defaults filled in, or None."""
    if not isinstance(item, LineDict):
        errors.add(label, line, f"{what} must be a mapping of keys to values, not {type(item).__name__}")
        return None
    name = f"{what} {item['slug']!r}" if isinstance(item.get("slug"), str) else what
    ok = True
    for key in item:
        if key not in spec:
            errors.add(label, item.line_of(str(key)), f"{name}: unknown key {key!r} (expected: {', '.join(spec)})")
            ok = False
    out: dict[str, Any] = {}
    for key, rule in spec.items():
        if key not in item or (item[key] is None and not rule.required):
            if key not in item and rule.required:
                errors.add(label, item.line, f"{name} is missing required key {key!r}")
                ok = False
            else:
                out[key] = rule.default() if callable(rule.default) else rule.default
            continue
        problem = _check_value(rule.kind, item[key])
        if problem:
            errors.add(label, item.line_of(key), f"{name}: {key!r} {problem}")
            ok = False
        out[key] = item[key].strip() if rule.kind == "str" and isinstance(item[key], str) else item[key]
    return out if ok else None


def _check_choice(errors: _Errors, label: str, item: LineDict, key: str, value: Any, choices: Iterable[str], what: str):
    allowed = list(choices)
    if value not in allowed:
        shown = ", ".join(repr(c) for c in allowed)
        errors.add(label, item.line_of(key), f"{what}: {key!r} is {value!r}, expected one of {shown}")


PHASE_SPEC = {
    "number": F("int"),
    "slug": F("slug"),
    "title": F("str"),
    "weeks": F("weeks"),
    "goal": F("str"),
    "summary": F("text"),
    "topics": F("list", default=list),
    "milestone_projects": F("list", required=False, default=list),
    "checklist": F("list", required=False, default=list),
}
TOPIC_SPEC = {
    "slug": F("slug"),
    "title": F("str"),
    "sub_track": F("text", required=False, default=""),
    "summary": F("text"),
    "tools": F("strs", required=False, default=list),
    "prerequisites": F("slugs", required=False, default=list),
    "article": F("slug", required=False),
}
MILESTONE_SPEC = {
    "slug": F("slug"),
    "title": F("str"),
    "description": F("text"),
    "success_criteria": F("strs", required=False, default=list),
}
CHECKLIST_SPEC = {"slug": F("slug"), "text": F("str")}
ARTICLE_SPEC = {
    "slug": F("slug"),
    "title": F("str"),
    "section": F("str"),
    "summary": F("str"),
    "order": F("int", required=False, default=0),
    "topics": F("slugs", required=False, default=list),
    "status": F("str"),
}
GLOSSARY_SPEC = {
    "slug": F("slug"),
    "term": F("str"),
    "aliases": F("strs", required=False, default=list),
    "short": F("str"),
    "long": F("text", required=False, default=""),
}
RESOURCE_SPEC = {
    "slug": F("slug"),
    "title": F("str"),
    "kind": F("str"),
    "cost": F("str"),
    "url": F("str"),
    "author": F("text", required=False, default=""),
    "year": F("int?", required=False),
    "description": F("text", required=False, default=""),
    "topics": F("slugs", required=False, default=list),
}


def _check_list(errors: _Errors, label: str, value: Any, line: int | None, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(label, line, f"{what} must be a list")
        return []
    return value


# --- Parsed content --------------------------------------------------------------------


@dataclass
class _Item:
    """A validated entry and where it came from."""

    data: dict[str, Any]
    label: str
    line: int
    source: LineDict


@dataclass
class _Content:
    phases: list[_Item] = field(default_factory=list)
    topics: list[_Item] = field(default_factory=list)  # data also has phase, order
    milestones: list[_Item] = field(default_factory=list)
    checklist: list[_Item] = field(default_factory=list)
    articles: list[_Item] = field(default_factory=list)  # data also has body
    glossary: list[_Item] = field(default_factory=list)
    resources: list[_Item] = field(default_factory=list)


def _label(path: Path, content_dir: Path) -> str:
    """The file as a person finds it: relative to the folder that holds content/."""
    try:
        return str(path.relative_to(content_dir.parent))
    except ValueError:
        return str(path)


def _parse_phases(content_dir: Path, errors: _Errors, out: _Content) -> None:
    roadmap = content_dir / "roadmap"
    files = sorted(roadmap.glob("phase-*.yaml")) if roadmap.is_dir() else []
    if not files:
        errors.add(_label(roadmap, content_dir), None, "no phase-<n>.yaml files found")
        return
    for path in files:
        label = _label(path, content_dir)
        doc = _read_yaml(path, label, errors)
        if doc is None and not path.read_bytes().strip():
            errors.add(label, 1, "file is empty")
            continue
        if doc is None:
            continue
        phase = _check_item(errors, label, doc, PHASE_SPEC, "phase", line=1)
        if phase is None:
            continue
        name_match = PHASE_FILE_RE.match(path.name)
        if not 0 <= phase["number"] <= 5:
            errors.add(label, doc.line_of("number"), f"phase number must be 0..5, not {phase['number']}")
        elif name_match is None or int(name_match.group(1)) != phase["number"]:
            errors.add(
                label, doc.line_of("number"), f"number {phase['number']} does not match the file name {path.name}"
            )
        phase["week_start"], phase["week_end"] = phase.pop("weeks")
        out.phases.append(_Item(phase, label, doc.line, doc))

        topics = _check_list(errors, label, phase.pop("topics"), doc.line_of("topics"), "topics")
        for order, raw in enumerate(topics, start=1):
            topic = _check_item(errors, label, raw, TOPIC_SPEC, "topic", line=doc.line_of("topics"))
            if topic is None:
                continue
            topic["sub_track"] = topic["sub_track"] or ""
            _check_choice(
                errors, label, raw, "sub_track", topic["sub_track"], SubTrack.values, f"topic {topic['slug']!r}"
            )
            topic.update(phase=phase["slug"], order=order)
            out.topics.append(_Item(topic, label, raw.line, raw))

        milestones = _check_list(
            errors, label, phase.pop("milestone_projects"), doc.line_of("milestone_projects"), "milestone_projects"
        )
        for order, raw in enumerate(milestones, start=1):
            item = _check_item(
                errors, label, raw, MILESTONE_SPEC, "milestone project", line=doc.line_of("milestone_projects")
            )
            if item is not None:
                item.update(phase=phase["slug"], order=order)
                out.milestones.append(_Item(item, label, raw.line, raw))

        checklist = _check_list(errors, label, phase.pop("checklist"), doc.line_of("checklist"), "checklist")
        for order, raw in enumerate(checklist, start=1):
            item = _check_item(errors, label, raw, CHECKLIST_SPEC, "checklist item", line=doc.line_of("checklist"))
            if item is not None:
                item.update(phase=phase["slug"], order=order)
                out.checklist.append(_Item(item, label, raw.line, raw))


def _split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Return (front matter, body, line the body starts on) or None when there is none."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return None


def _parse_articles(content_dir: Path, errors: _Errors, out: _Content) -> None:
    folder = content_dir / "articles"
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        label = _label(path, content_dir)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            errors.add(label, None, f"is not UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        parts = _split_front_matter(text)
        if parts is None:
            errors.add(label, 1, "must start with front matter between two '---' lines")
            continue
        front, body, _body_line = parts
        meta = _read_yaml(path, label, errors, text=front, line_offset=1)
        if meta is None:
            if not front.strip():
                errors.add(label, 2, "front matter is empty")
            continue
        article = _check_item(errors, label, meta, ARTICLE_SPEC, "article", line=2)
        if article is None:
            continue
        what = f"article {article['slug']!r}"
        _check_choice(errors, label, meta, "section", article["section"], Section.values, what)
        _check_choice(errors, label, meta, "status", article["status"], Article.Status.values, what)
        if article["slug"] != path.stem:
            errors.add(
                label, meta.line_of("slug"), f"slug {article['slug']!r} does not match the file name {path.name}"
            )
        if not body.strip():
            errors.add(label, parts[2], f"{what} has no body after the front matter")
        for problem in body_problems(body):
            errors.add(label, parts[2], f"{what}: {problem}")
        article["body"] = body.strip() + "\n"
        out.articles.append(_Item(article, label, meta.line, meta))


def _parse_list_file(content_dir: Path, name: str, spec: dict[str, F], what: str, errors: _Errors) -> list[_Item]:
    path = content_dir / name
    if not path.exists():
        return []  # optional: an installation may ship no glossary or resources
    label = _label(path, content_dir)
    doc = _read_yaml(path, label, errors)
    if doc is None:
        return []
    if not isinstance(doc, list):
        errors.add(label, 1, f"must be a list of {what} entries")
        return []
    items = []
    for raw in doc:
        item = _check_item(errors, label, raw, spec, what, line=1)
        if item is not None:
            items.append(_Item(item, label, raw.line, raw))
    return items


def _parse(content_dir: Path, errors: _Errors) -> _Content:
    out = _Content()
    _parse_phases(content_dir, errors, out)
    _parse_articles(content_dir, errors, out)
    out.glossary = _parse_list_file(content_dir, "glossary.yaml", GLOSSARY_SPEC, "glossary term", errors)
    out.resources = _parse_list_file(content_dir, "resources.yaml", RESOURCE_SPEC, "resource", errors)
    for item in out.glossary:
        if len(item.data["short"]) > GLOSSARY_SHORT_MAX:
            errors.add(
                item.label,
                item.source.line_of("short"),
                f"glossary term {item.data['slug']!r}: 'short' is {len(item.data['short'])} characters, "
                f"at most {GLOSSARY_SHORT_MAX}",
            )
    for item in out.resources:
        data = item.data
        what = f"resource {data['slug']!r}"
        _check_choice(errors, item.label, item.source, "kind", data["kind"], Resource.Kind.values, what)
        _check_choice(errors, item.label, item.source, "cost", data["cost"], Resource.Cost.values, what)
        if not re.match(r"^https?://[^\s/]+\.[^\s]+$", data["url"]):
            errors.add(item.label, item.source.line_of("url"), f"{what}: 'url' must be an http(s) address")
        if data["year"] is not None and not 1900 <= data["year"] <= 2100:
            errors.add(item.label, item.source.line_of("year"), f"{what}: 'year' {data['year']} is not a year")
    return out


# --- Cross-references --------------------------------------------------------------------


def _check_unique(errors: _Errors, items: list[_Item], what: str, key: str = "slug") -> None:
    seen: dict[Any, _Item] = {}
    for item in items:
        value = item.data[key]
        if value in seen:
            first = seen[value]
            errors.add(
                item.label,
                item.source.line_of(key),
                f"{what} {key} {value!r} is already used ({first.label}, line {first.source.line_of(key)})",
            )
        else:
            seen[value] = item


def _check_references(errors: _Errors, items: list[_Item], key: str, known: set[str], what: str, target: str) -> None:
    for item in items:
        value = item.data.get(key)
        for slug in value if isinstance(value, list) else ([value] if value else []):
            if slug not in known:
                errors.add(
                    item.label,
                    item.source.line_of(key),
                    f"{what} {item.data['slug']!r}: {key} names unknown {target} {slug!r}",
                )


def _check_prerequisite_cycles(errors: _Errors, topics: list[_Item]) -> None:
    graph = {t.data["slug"]: t for t in topics}
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(slug: str, path: list[str]) -> None:
        state[slug] = 1
        for dep in graph[slug].data["prerequisites"]:
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep] if dep in path else [slug, dep]
                item = graph[slug]
                errors.add(
                    item.label,
                    item.source.line_of("prerequisites"),
                    f"topic prerequisites form a cycle: {' -> '.join(cycle)}",
                )
            elif dep not in state:
                visit(dep, [*path, dep])
        state[slug] = 2

    for slug in graph:
        if slug not in state:
            visit(slug, [slug])


def _check_glossary_words(errors: _Errors, terms: list[_Item]) -> None:
    """A word may link to one term only, or the tooltip would be a guess."""
    owner: dict[str, str] = {}
    for item in terms:
        for word in [item.data["term"], *item.data["aliases"]]:
            folded = word.strip().casefold()
            if folded in owner and owner[folded] != item.data["slug"]:
                errors.add(
                    item.label,
                    item.source.line_of("aliases" if word != item.data["term"] else "term"),
                    f"glossary term {item.data['slug']!r}: {word!r} is already a term or alias of {owner[folded]!r}",
                )
            owner.setdefault(folded, item.data["slug"])


def _cross_check(content: _Content, errors: _Errors) -> None:
    _check_unique(errors, content.phases, "phase", "number")
    for items, what in [
        (content.phases, "phase"),
        (content.topics, "topic"),
        (content.milestones, "milestone project"),
        (content.checklist, "checklist item"),
        (content.articles, "article"),
        (content.glossary, "glossary term"),
        (content.resources, "resource"),
    ]:
        _check_unique(errors, items, what)
    topics = {t.data["slug"] for t in content.topics}
    articles = {a.data["slug"] for a in content.articles}
    _check_references(errors, content.topics, "prerequisites", topics, "topic", "topic")
    _check_references(errors, content.topics, "article", articles, "topic", "article")
    _check_references(errors, content.articles, "topics", topics, "article", "topic")
    _check_references(errors, content.resources, "topics", topics, "resource", "topic")
    for topic in content.topics:
        if topic.data["slug"] in topic.data["prerequisites"]:
            errors.add(
                topic.label,
                topic.source.line_of("prerequisites"),
                f"topic {topic.data['slug']!r} lists itself as a prerequisite",
            )
    _check_prerequisite_cycles(errors, content.topics)
    _check_glossary_words(errors, content.glossary)


# --- Writing -------------------------------------------------------------------------


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class _Stats:
    changed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.changed.values())


def _upsert(
    model, existing: dict[str, Any], slug: str, fields: dict[str, Any], digest: str, changed: list[str]
) -> tuple[Any, bool]:
    obj = existing.get(slug)
    if obj is not None and obj.source_hash == digest:
        return obj, False
    if obj is None:
        obj = model.objects.create(slug=slug, source_hash=digest, **fields)
        existing[slug] = obj
    else:
        for name, value in fields.items():
            setattr(obj, name, value)
        obj.source_hash = digest
        obj.save()
    changed.append(slug)
    return obj, True


def _write_articles(content: _Content, stats: _Stats) -> tuple[dict[str, Article], list[tuple[Article, list[str]]]]:
    existing = {a.slug: a for a in Article.objects.all()}
    pending_topics: list[tuple[Article, list[str]]] = []
    now = timezone.now()
    for item in content.articles:
        data = item.data
        digest = _digest(data)
        article = existing.get(data["slug"])
        if article is not None and article.source_hash == digest:
            continue
        # Every write is a new version with its revision, so an author editing an older
        # version is stopped by the conflict guard instead of undoing this load.
        if article is None:
            article = Article(slug=data["slug"], version=1)
            existing[article.slug] = article
        else:
            article.version += 1
        article.title, article.summary, article.body = data["title"], data["summary"], data["body"]
        article.section, article.order, article.status = data["section"], data["order"], data["status"]
        if article.status == Article.Status.PUBLISHED and article.published_at is None:
            article.published_at = now
        article.updated_by = None  # the files wrote this version, not a person
        article.source_hash = digest
        article.save()
        ArticleRevision.objects.create(
            article=article,
            version=article.version,
            title=article.title,
            summary=article.summary,
            body=article.body,
            author=None,
            note=LOADED_NOTE,
        )
        pending_topics.append((article, data["topics"]))
        stats.changed["article"].append(article.slug)
    return existing, pending_topics


def _write(content: _Content) -> _Stats:
    stats = _Stats()
    phases = {p.slug: p for p in Phase.objects.all()}
    for item in content.phases:
        fields = {k: item.data[k] for k in ("number", "title", "week_start", "week_end", "goal", "summary")}
        _upsert(Phase, phases, item.data["slug"], fields, _digest(item.data), stats.changed["phase"])

    articles, article_topics = _write_articles(content, stats)

    topics = {t.slug: t for t in Topic.objects.all()}
    topic_prereqs: list[tuple[Topic, list[str]]] = []
    for item in content.topics:
        data = item.data
        fields = {
            "phase": phases[data["phase"]],
            "title": data["title"],
            "sub_track": data["sub_track"],
            "summary": data["summary"],
            "tools": data["tools"],
            "order": data["order"],
            "article": articles[data["article"]] if data["article"] else None,
        }
        topic, changed = _upsert(Topic, topics, data["slug"], fields, _digest(data), stats.changed["topic"])
        if changed:
            topic_prereqs.append((topic, data["prerequisites"]))
    for topic, slugs in topic_prereqs:
        topic.prerequisites.set([topics[s] for s in slugs])
    for article, slugs in article_topics:
        article.topics.set([topics[s] for s in slugs])

    milestones = {m.slug: m for m in MilestoneProject.objects.all()}
    for item in content.milestones:
        data = item.data
        fields = {
            "phase": phases[data["phase"]],
            "title": data["title"],
            "description": data["description"],
            "success_criteria": data["success_criteria"],
            "order": data["order"],
        }
        _upsert(MilestoneProject, milestones, data["slug"], fields, _digest(data), stats.changed["milestone"])

    checklist = {c.slug: c for c in ChecklistItem.objects.all()}
    for item in content.checklist:
        data = item.data
        fields = {"phase": phases[data["phase"]], "text": data["text"], "order": data["order"]}
        _upsert(ChecklistItem, checklist, data["slug"], fields, _digest(data), stats.changed["checklist"])

    terms = {g.slug: g for g in GlossaryTerm.objects.all()}
    for item in content.glossary:
        data = item.data
        fields = {k: data[k] for k in ("term", "aliases", "short", "long")}
        _upsert(GlossaryTerm, terms, data["slug"], fields, _digest(data), stats.changed["glossary"])

    resources = {r.slug: r for r in Resource.objects.all()}
    for item in content.resources:
        data = item.data
        fields = {k: data[k] for k in ("title", "kind", "cost", "url", "author", "year", "description")}
        resource, changed = _upsert(Resource, resources, data["slug"], fields, _digest(data), stats.changed["resource"])
        if changed:
            resource.topics.set([topics[s] for s in data["topics"]])
    return stats


def _schedule_search(stats: _Stats) -> None:
    for kind in ("article", "topic", "glossary", "resource"):
        if stats.changed.get(kind):
            search_services.search_index_schedule(kind, list(stats.changed[kind]))


def _validate(content_dir: Path) -> _Content:
    errors = _Errors()
    content = _parse(content_dir, errors)
    if not errors.items:  # references are only meaningful once every file parsed
        _cross_check(content, errors)
    errors.raise_if_any()
    return content


def curriculum_load(content_dir: Path) -> str:
    """Validate and load content/ (phases, topics, articles, glossary, resources).

    Raises ``ApplicationError`` naming file and line, before writing anything, when any
    file is wrong. Returns a one-line summary with the number of rows that changed.
    """
    content_dir = Path(content_dir)
    if not content_dir.is_dir():
        raise ApplicationError(f"content folder {content_dir} does not exist")
    content = _validate(content_dir)
    with transaction.atomic():
        stats = _write(content)
        _schedule_search(stats)  # enqueued on commit
    return (
        f"curriculum: {len(content.phases)} phases, {len(content.topics)} topics, "
        f"{len(content.milestones)} milestone projects, {len(content.checklist)} checklist items, "
        f"{len(content.articles)} articles, {len(content.glossary)} glossary terms, "
        f"{len(content.resources)} resources ({stats.total} changed)"
    )
