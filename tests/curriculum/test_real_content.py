"""The shipped content/ folder covers every section of the career guide."""

from __future__ import annotations

import pytest
from django.conf import settings

from apps.curriculum.loader import curriculum_load
from apps.curriculum.markdown import render_markdown
from apps.curriculum.models import (
    Article,
    ChecklistItem,
    GlossaryTerm,
    MilestoneProject,
    Phase,
    Resource,
    Section,
    SubTrack,
    Topic,
)

pytestmark = pytest.mark.django_db

# (section of the guide, article slug, section slug)
GUIDE_ARTICLES = [
    ("What is generative AI", "what-is-generative-ai", "what-is-genai"),
    ("Why a GenAI career", "why-a-genai-career", "careers"),
    ("The learning roadmap", "roadmap-overview", "roadmap"),
    ("Core concepts: the transformer block", "transformer-block", "core-concepts"),
    ("Core concepts: self-attention", "self-attention", "core-concepts"),
    ("Core concepts: tokenization", "tokenization", "core-concepts"),
    ("Core concepts: positional encoding", "positional-encoding", "core-concepts"),
    ("Core concepts: training", "training-concepts", "core-concepts"),
    ("Core concepts: LoRA", "lora-fine-tuning", "core-concepts"),
    ("Core concepts: RLHF", "rlhf-pipeline", "core-concepts"),
    ("Core concepts: benchmarks", "evaluation-benchmarks", "core-concepts"),
    ("Tech stack", "tech-stack", "tech-stack"),
    ("API providers", "api-providers", "tech-stack"),
    ("Development environment", "dev-environment-setup", "tech-stack"),
    ("Projects that get you hired", "projects-that-get-you-hired", "projects"),
    ("How to get hired", "how-to-get-hired", "getting-hired"),
    ("Interview questions", "interview-preparation", "getting-hired"),
    ("Salary benchmarks", "salary-benchmarks", "careers"),
    ("Learning resources", "learning-resources", "resources"),
    ("FAQ", "faq", "faq"),
    ("30-day action plan", "thirty-day-action-plan", "action-plan"),
    ("Cheatsheets", "cheatsheets", "cheatsheets"),
]
GUIDE_TERMS = [
    "gradient",
    "backpropagation",
    "attention head",
    "embedding",
    "KV cache",
    "tokenization",
    "LoRA",
    "diffusion model",
]


@pytest.fixture
def shipped(db) -> str:
    return curriculum_load(settings.CONTENT_DIR)


def test_the_shipped_content_loads_twice_without_changes(shipped):
    assert shipped.startswith("curriculum: 6 phases")
    assert curriculum_load(settings.CONTENT_DIR).endswith("(0 changed)")


def test_phases_0_to_5_with_week_ranges_milestones_and_checklists(shipped):
    phases = list(Phase.objects.order_by("number"))
    assert [p.number for p in phases] == [0, 1, 2, 3, 4, 5]
    previous_end = 0
    for phase in phases:
        assert phase.week_start == previous_end + 1, f"phase {phase.number} should start the week after the last"
        assert phase.week_end >= phase.week_start
        previous_end = phase.week_end
        assert phase.topics.exists(), phase
        assert MilestoneProject.objects.filter(phase=phase).exists(), f"phase {phase.number} has no milestone project"
        assert ChecklistItem.objects.filter(phase=phase).count() >= 2, f"phase {phase.number} has no checklist"


def test_phase_4_has_the_five_sub_tracks_and_phase_5_is_llmops(shipped):
    phase4 = set(Topic.objects.filter(phase__number=4).values_list("sub_track", flat=True))
    assert phase4 == {
        SubTrack.PROMPT_ENGINEERING,
        SubTrack.RAG,
        SubTrack.FINE_TUNING,
        SubTrack.AGENTS,
        SubTrack.MULTIMODAL,
    }
    assert set(Topic.objects.filter(phase__number=5).values_list("sub_track", flat=True)) == {SubTrack.LLMOPS}


def test_every_guide_section_has_its_published_article(shipped):
    # One test walks the whole list (loading content/ once), and names every gap at once.
    problems = []
    for guide_section, slug, section in GUIDE_ARTICLES:
        article = Article.objects.filter(slug=slug).first()
        if article is None:
            problems.append(f"{guide_section}: content/articles/{slug}.md is missing")
        elif article.status != Article.Status.PUBLISHED or article.section != section:
            problems.append(f"{slug}: should be published in section {section!r}")
        elif len(article.body.split()) < 150:
            problems.append(f"{slug}: too short to teach anything")
        elif not render_markdown(article.body).toc:
            problems.append(f"{slug}: no ## headings for the table of contents")
    assert not problems, problems
    assert set(Article.objects.values_list("section", flat=True)) == set(Section.values)


def test_glossary_covers_the_guides_terms(shipped):
    words = {w.casefold(): t for t in GlossaryTerm.objects.all() for w in [t.term, *t.aliases]}
    missing = [word for word in GUIDE_TERMS if word.casefold() not in words]
    assert not missing, f"no glossary term or alias for {missing}"
    assert all(0 < len(t.short) <= 200 for t in words.values())


def test_resources_cover_every_kind_and_both_costs(shipped):
    assert set(Resource.objects.values_list("kind", flat=True)) == set(Resource.Kind.values)
    assert set(Resource.objects.values_list("cost", flat=True)) == {"free", "paid"}


def test_core_articles_show_tooltips(shipped):
    html = render_markdown(Article.objects.get(slug="transformer-block").body).html
    assert html.count('role="tooltip"') >= 5
