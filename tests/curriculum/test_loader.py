from __future__ import annotations

import re

import pytest

from apps.core.errors import ApplicationError
from apps.curriculum.loader import LOADED_NOTE, curriculum_load
from apps.curriculum.models import (
    Article,
    ArticleRevision,
    ChecklistItem,
    ChecklistTick,
    GlossaryTerm,
    MilestoneProject,
    Phase,
    Resource,
    Topic,
    TopicProgress,
)
from apps.curriculum.services import article_update, checklist_item_tick, topic_progress_set

pytestmark = pytest.mark.django_db

MODELS = (Phase, Topic, Article, ArticleRevision, GlossaryTerm, Resource, MilestoneProject, ChecklistItem)


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in MODELS}


def test_loads_everything_and_reports_a_summary(content_dir, search_calls):
    summary = curriculum_load(content_dir)
    assert summary == (
        "curriculum: 2 phases, 7 topics, 1 milestone projects, 3 checklist items, 3 articles, "
        "5 glossary terms, 3 resources (24 changed)"
    )
    phase = Phase.objects.get(slug="basics")
    assert (phase.number, phase.week_start, phase.week_end) == (0, 1, 4)
    derivatives = Topic.objects.get(slug="derivatives")
    assert derivatives.order == 2 and derivatives.phase == phase
    assert list(derivatives.prerequisites.values_list("slug", flat=True)) == ["vectors"]
    assert derivatives.article.slug == "gradients-explained"
    assert Topic.objects.get(slug="lora").sub_track == "fine-tuning"
    article = Article.objects.get(slug="gradients-explained")
    assert article.status == "published" and article.published_at and article.version == 1
    assert list(article.topics.values_list("slug", flat=True)) == ["derivatives"]
    assert article.revisions.get().note == LOADED_NOTE
    assert Article.objects.get(slug="unfinished-draft").published_at is None
    assert Resource.objects.get(slug="paid-course").year is None
    assert sorted(Resource.objects.get(slug="math-for-ml").topics.values_list("slug", flat=True)) == [
        "derivatives",
        "vectors",
    ]
    assert GlossaryTerm.objects.get(slug="lora").aliases == ["low-rank adaptation"]
    kinds = {kind for kind, _ in search_calls}
    assert kinds == {"article", "topic", "glossary", "resource"}
    assert ("article", ["gradients-explained", "lora-in-practice", "unfinished-draft"]) in search_calls


def test_second_run_changes_nothing_and_writes_nothing(content_dir, search_calls, django_assert_max_num_queries):
    curriculum_load(content_dir)
    before = counts()
    stamps = dict(Topic.objects.values_list("slug", "updated_at"))
    search_calls.clear()
    with django_assert_max_num_queries(12):  # one read per kind, no writes
        summary = curriculum_load(content_dir)
    assert summary.endswith("(0 changed)")
    assert counts() == before
    assert dict(Topic.objects.values_list("slug", "updated_at")) == stamps
    assert search_calls == []


def test_reload_updates_in_place_and_progress_survives(content_dir, learner, search_calls):
    curriculum_load(content_dir)
    topic = Topic.objects.get(slug="vectors")
    topic_progress_set(learner, topic, "done")
    checklist_item_tick(learner, ChecklistItem.objects.get(slug="can-multiply"))
    ids = dict(Topic.objects.values_list("slug", "id"))

    phase_file = content_dir / "roadmap" / "phase-0.yaml"
    phase_file.write_text(phase_file.read_text().replace("title: Vectors", "title: Vectors and matrices"))
    search_calls.clear()
    summary = curriculum_load(content_dir)

    assert summary.endswith("(1 changed)")
    assert search_calls == [("topic", ["vectors"])]
    topic.refresh_from_db()
    assert topic.title == "Vectors and matrices"
    assert dict(Topic.objects.values_list("slug", "id")) == ids  # same rows, updated in place
    assert TopicProgress.objects.get(user=learner, topic=topic).status == "done"
    assert ChecklistTick.objects.filter(user=learner, item__slug="can-multiply").exists()


def test_author_edit_survives_reload_until_the_file_changes(content_dir, author, learner):
    curriculum_load(content_dir)
    article = Article.objects.get(slug="lora-in-practice")
    topic_progress_set(learner, Topic.objects.get(slug="lora"), "in_progress")
    article_update(article, user=author, expected_version=1, body="## Why LoRA\n\nAn author's better text.\n")

    assert curriculum_load(content_dir).endswith("(0 changed)")  # restarting the server keeps the edit
    article.refresh_from_db()
    assert article.version == 2 and "better text" in article.body

    path = content_dir / "articles" / "lora-in-practice.md"
    path.write_text(path.read_text().replace("two small matrices", "two tiny matrices"))
    assert curriculum_load(content_dir).endswith("(1 changed)")
    article.refresh_from_db()
    assert article.version == 3 and "two tiny matrices" in article.body and article.updated_by is None
    notes = list(article.revisions.order_by("version").values_list("version", "note"))
    assert notes == [(1, LOADED_NOTE), (2, "edited"), (3, LOADED_NOTE)]
    # Nothing is lost: the author's text is still in the history.
    assert "better text" in article.revisions.get(version=2).body
    assert TopicProgress.objects.get(user=learner, topic__slug="lora").status == "in_progress"


def _expect_error(content_dir, *fragments: str) -> str:
    before = counts()
    with pytest.raises(ApplicationError) as info:
        curriculum_load(content_dir)
    message = info.value.message
    for fragment in fragments:
        assert fragment in message, message
    assert counts() == before, "nothing may be written when content is invalid"
    return message


def _edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("preloaded", [False, True])
def test_bad_yaml_names_file_and_line_and_writes_nothing(content_dir, preloaded):
    if preloaded:
        curriculum_load(content_dir)
    _edit(content_dir / "glossary.yaml", "  short: A vector that stands", "  short: [unclosed A vector that stands")
    # Also an edit elsewhere that would be written if validation were not done first.
    _edit(content_dir / "roadmap" / "phase-0.yaml", "title: Basics", "title: Basics changed")
    message = _expect_error(content_dir, "content/glossary.yaml, line", "invalid YAML")
    line = int(re.search(r"glossary\.yaml, line (\d+)", message).group(1))
    assert line in (10, 11)  # the broken line (or the one after, where the parser notices)
    assert not Phase.objects.filter(title="Basics changed").exists()


def test_malformed_front_matter(content_dir):
    path = content_dir / "articles" / "lora-in-practice.md"
    path.write_text(path.read_text().replace("---\nslug", "slug", 1))
    _expect_error(content_dir, "content/articles/lora-in-practice.md, line 1", "front matter")


def test_front_matter_yaml_error_reports_the_file_line(content_dir):
    _edit(content_dir / "articles" / "lora-in-practice.md", "order: 20", "order: [20")
    _expect_error(content_dir, "content/articles/lora-in-practice.md, line", "invalid YAML")


def test_missing_key_reports_the_items_line(content_dir):
    _edit(content_dir / "roadmap" / "phase-0.yaml", "    title: Derivatives\n", "")
    _expect_error(
        content_dir, "content/roadmap/phase-0.yaml, line 16: topic 'derivatives' is missing required key 'title'"
    )


def test_unknown_slug_reference(content_dir):
    _edit(content_dir / "roadmap" / "phase-4.yaml", "prerequisites: [prompting]", "prerequisites: [prompt-craft]")
    _expect_error(content_dir, "content/roadmap/phase-4.yaml, line 33", "names unknown topic 'prompt-craft'")


def test_unknown_article_reference_from_a_topic(content_dir):
    _edit(content_dir / "roadmap" / "phase-0.yaml", "article: gradients-explained", "article: no-such-article")
    _expect_error(content_dir, "phase-0.yaml, line 23", "unknown article 'no-such-article'")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "resources.yaml",
            "kind: paper",
            "kind: video",
            "resources.yaml, line 12: resource 'lora-paper': 'kind' is 'video'",
        ),
        ("roadmap/phase-4.yaml", "sub_track: rag", "sub_track: retrieval", "'sub_track' is 'retrieval'"),
        ("articles/lora-in-practice.md", "status: published", "status: live", "lora-in-practice.md, line 8"),
        ("articles/lora-in-practice.md", "section: core-concepts", "section: concepts", "'section' is 'concepts'"),
        ("resources.yaml", "cost: paid", "cost: cheap", "'cost' is 'cheap'"),
    ],
)
def test_bad_enum_values(content_dir, file, old, new, expected):
    _edit(content_dir / file, old, new)
    _expect_error(content_dir, expected)


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("roadmap/phase-0.yaml", "- slug: derivatives", "- slug: Derivatives_2", "is not a slug"),
        ("roadmap/phase-4.yaml", "- slug: lora\n", "- slug: vectors\n", "topic slug 'vectors' is already used"),
        ("roadmap/phase-0.yaml", "weeks: [1, 4]", "weeks: [4, 1]", "'weeks' must be two weeks"),
        ("roadmap/phase-0.yaml", "number: 0", "number: 3", "does not match the file name phase-0.yaml"),
        ("roadmap/phase-0.yaml", "    tools: [NumPy]", "    tools: NumPy", "'tools' must be a list"),
        ("roadmap/phase-0.yaml", "    prerequisites: []", "    prerequisites: [derivatives]", "cycle"),
        ("roadmap/phase-0.yaml", '    sub_track: ""\n', '    sub_track: ""\n    colour: red\n', "unknown key 'colour'"),
        ("articles/lora-in-practice.md", "slug: lora-in-practice", "slug: lora-practice", "does not match the file"),
        ("glossary.yaml", "aliases: [backprop]", "aliases: [backprop, gradients]", "already a term or alias"),
        ("resources.yaml", "https://example.com/course", "javascript:alert(1)", "must be an http(s) address"),
        ("glossary.yaml", "  aliases: [gradients]\n", "  aliases: [gradients]\n  aliases: []\n", "duplicate key"),
    ],
)
def test_invalid_content_is_refused(content_dir, file, old, new, expected):
    _edit(content_dir / file, old, new)
    _expect_error(content_dir, expected)


def test_all_problems_are_reported_at_once(content_dir):
    _edit(content_dir / "resources.yaml", "kind: paper", "kind: video")
    _edit(content_dir / "glossary.yaml", "term: KV cache", "term: ''")
    message = _expect_error(content_dir, "2 problems", "resources.yaml", "glossary.yaml")
    assert message.startswith("content not loaded, nothing was written")


def test_glossary_short_is_limited_to_200_characters(content_dir):
    _edit(content_dir / "glossary.yaml", "short: The direction", "short: " + "x" * 200 + " The direction")
    _expect_error(content_dir, "glossary.yaml, line 4", "at most 200")


def test_load_content_command_runs_the_loader(content_dir, settings):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.CONTENT_LOADERS = ["apps.curriculum.loader.curriculum_load"]
    out = StringIO()
    call_command("load_content", content_dir=str(content_dir), stdout=out)
    assert "curriculum: 2 phases" in out.getvalue()
    _edit(content_dir / "resources.yaml", "kind: paper", "kind: video")
    with pytest.raises(CommandError, match=r"resources\.yaml, line 12"):
        call_command("load_content", content_dir=str(content_dir), stdout=out)
