from __future__ import annotations

import re
from pathlib import Path

import pytest

from apps.curriculum.markdown import pygments_stylesheet, render_markdown, sanitize
from apps.curriculum.models import GlossaryTerm

pytestmark = pytest.mark.django_db

STATIC_PYGMENTS = Path(__file__).resolve().parents[2] / "static" / "curriculum" / "pygments.css"


@pytest.fixture
def glossary(db):
    GlossaryTerm.objects.create(slug="gradient", term="Gradient", aliases=["gradients"], short="Points uphill.")
    GlossaryTerm.objects.create(slug="kv-cache", term="KV cache", aliases=[], short="Saved keys & <values>.")
    GlossaryTerm.objects.create(slug="cache", term="Cache", aliases=[], short="Kept for later.")
    GlossaryTerm.objects.create(slug="lora", term="LoRA", aliases=["low-rank adaptation"], short="Small adapters.")


def terms_in(html: str) -> list[str]:
    return re.findall(r'data-term="([a-z0-9-]+)"', html)


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        '<p style="position:fixed">styled</p>',
        '<iframe src="https://evil.example"></iframe>',
        '<svg onload="alert(1)"></svg>',
        '<a href="#" onclick="alert(1)">x</a>',
        '<span class="term-tip" role="tooltip">fake</span>',
    ],
)
def test_dangerous_markup_is_stripped(glossary, attack):
    html = render_markdown(f"Hello\n\n{attack}\n\nbye").html
    lowered = html.lower()
    assert "<script" not in lowered and "alert(1)</script" not in lowered
    assert "onerror" not in lowered and "onclick" not in lowered and "onload" not in lowered
    # markdown-it leaves a refused link as its literal text; what matters is that no link
    # (or any other attribute) carries the scheme.
    assert '="javascript:' not in lowered
    assert "style=" not in lowered
    assert "<iframe" not in lowered
    assert 'class="term-tip"' not in lowered  # authors cannot borrow our UI's classes
    assert "Hello" in html and "bye" in html


def test_sanitize_keeps_safe_links_and_adds_rel():
    html = sanitize('<a href="https://example.com/x">x</a> <a href="mailto:a@b.c">m</a>')
    assert 'href="https://example.com/x"' in html and 'rel="noopener noreferrer"' in html
    assert 'href="mailto:a@b.c"' in html


def test_tooltips_link_the_first_use_per_section_only(glossary):
    body = (
        "Intro about gradients and a gradient.\n\n"
        "## First\n\nThe gradient matters. The gradient again. A KV cache and a cache.\n\n"
        "## Second\n\nGradients are back, LoRA too. Then low-rank adaptation again.\n\n"
        "### Sub\n\nA gradient under h3 is still the second section.\n"
    )
    html = render_markdown(body).html
    # intro: gradient once; First: gradient, kv-cache, cache; Second: gradient, lora (alias same term: once)
    assert terms_in(html) == ["gradient", "gradient", "kv-cache", "cache", "gradient", "lora"]
    assert 'href="/learn/glossary/#kv-cache"' in html
    first = re.search(r'<a class="term"[^>]*data-term="gradient"[^>]*aria-describedby="([^"]+)">gradients</a>', html)
    assert first, html
    tip_id = first.group(1)
    assert f'<span role="tooltip" id="{tip_id}" class="term-tip">Points uphill.</span>' in html
    assert "Saved keys &amp; &lt;values&gt;." in html  # the tooltip text is escaped


def test_terms_inside_code_links_and_headings_are_left_alone(glossary):
    body = (
        "## Gradient basics\n\n"
        "Inline `gradient` code, a [gradient link](https://example.com) and a plain gradient.\n\n"
        "```python\ngradient = 1  # gradient\n```\n"
    )
    html = render_markdown(body).html
    assert terms_in(html) == ["gradient"]
    assert '<h2 id="gradient-basics">Gradient basics</h2>' in html
    assert "<code>gradient</code>" in html
    assert ">gradient link</a>" in html
    linked = html.index('data-term="gradient"')
    assert linked > html.index("gradient link")  # the plain use after the link is the linked one


def test_whole_words_only(glossary):
    html = render_markdown("Cached caches and a gradientless QLoRA-ish word.").html
    assert terms_in(html) == []


def test_tables_code_highlight_and_toc(glossary):
    body = (
        "# Title\n\n## Setup\n\n| Model | Params |\n|:--|--:|\n| GPT-2 | 124M |\n\n"
        "### Install\n\n```python\nimport torch\nprint('x < y')\n```\n\n## Use it\n\nText.\n"
    )
    rendered = render_markdown(body)
    html = rendered.html
    assert "<table>" in html and '<th align="left">Model</th>' in html and '<td align="right">124M</td>' in html
    assert '<div class="highlight">' in html and '<span class="kn">import</span>' in html
    assert "x &lt; y" in html
    assert rendered.toc == [
        {"level": 2, "id": "setup", "title": "Setup"},
        {"level": 3, "id": "install", "title": "Install"},
        {"level": 2, "id": "use-it", "title": "Use it"},
    ]


def test_render_is_cached_and_glossary_edits_invalidate_it(glossary, django_assert_max_num_queries):
    body = "A gradient here."
    render_markdown(body)
    with django_assert_max_num_queries(1):  # only the glossary version; the HTML comes from the cache
        assert "Points uphill." in render_markdown(body).html
    term = GlossaryTerm.objects.get(slug="gradient")
    term.short = "Now rewritten."
    term.save()
    assert "Now rewritten." in render_markdown(body).html


def test_without_term_linking(glossary):
    assert terms_in(render_markdown("A gradient.", link_terms=False).html) == []


def test_the_shipped_pygments_stylesheet_is_current():
    """static/curriculum/pygments.css is generated; regenerate it when this fails."""
    assert STATIC_PYGMENTS.read_text() == pygments_stylesheet()
    assert "@media (prefers-color-scheme: dark)" in pygments_stylesheet()


def test_every_code_colour_meets_wcag_aa_on_the_code_background():
    import re

    from apps.curriculum.markdown import CODE_BG_DARK, CODE_BG_LIGHT, contrast_ratio

    light, dark = pygments_stylesheet().split("@media (prefers-color-scheme: dark)")
    for part, background in ((light, CODE_BG_LIGHT), (dark, CODE_BG_DARK)):
        colours = re.findall(r"(?<![-\w])color: (#[0-9a-fA-F]{6})\b", part)
        assert len(colours) > 30
        assert min(contrast_ratio(c, background) for c in colours) >= 4.5
    assert contrast_ratio("#000000", "#ffffff") == 21


def test_code_blocks_can_be_reached_with_the_keyboard():
    html = render_markdown("```python\nx = 1  # a long line that may scroll\n```", link_terms=False).html
    assert '<pre tabindex="0">' in html
