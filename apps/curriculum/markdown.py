"""Markdown -> safe HTML, with a table of contents and glossary tooltips.

Pipeline: Python-Markdown (tables, fenced code, Pygments highlighting, heading ids) ->
nh3 sanitizer (an allow-list; anything else is dropped, so authored text can never carry
script, event handlers, javascript: links or inline styles) -> one pass over the sanitized
HTML that links glossary terms and collects the headings for the table of contents.

Terms are linked after sanitizing because the tooltip markup is ours (trusted) and needs
attributes the sanitizer would rightly refuse from authors (role, aria-describedby).

Rendered output is cached by (renderer version, glossary version, text hash): editing a
term changes the glossary version, so every page picks up the new tooltip.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from typing import Any

import markdown as markdown_lib
import nh3
from django.core.cache import cache
from django.db.models import Count, Max
from django.urls import reverse

# Bump when the pipeline's output changes, so cached HTML from the old one is not served.
RENDERER_VERSION = "3"
CACHE_TTL = 60 * 60 * 24 * 7

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
    "div": {"class"},
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
    **{h: {"id"} for h in HEADINGS},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Classes an author's markdown may produce: the code-block wrapper and Pygments' short
# token classes (k, nf, s2, ...). Anything else could borrow our UI's classes.
_SAFE_CLASS = re.compile(r"^(highlight|[a-z]{1,3}[0-9]?)$")

# Text inside these is never turned into a tooltip link.
NO_LINK_TAGS = {"a", "code", "pre", "kbd", *HEADINGS}
VOID_TAGS = {"br", "hr", "img", "wbr"}


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[dict[str, Any]] = field(default_factory=list)  # [{"level": 2, "id": ..., "title": ...}]


# --- Sanitizing ------------------------------------------------------------------------


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        kept = [c for c in value.split() if _SAFE_CLASS.match(c)]
        return " ".join(kept) or None
    return value


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=_attribute_filter,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _markdown_to_html(text: str) -> str:
    md = markdown_lib.Markdown(
        extensions=["tables", "fenced_code", "codehilite", "toc", "sane_lists"],
        extension_configs={
            "codehilite": {"css_class": "highlight", "guess_lang": False},
            "tables": {"use_align_attribute": True},  # align="", not style="" (styles are stripped)
            "toc": {"toc_depth": "2-4"},
        },
        output_format="html",
    )
    return md.convert(text)


# --- Glossary -------------------------------------------------------------------------


@dataclass
class GlossaryIndex:
    """The glossary as the renderer needs it; terms are read only on a cache miss."""

    version: str
    _terms: list[tuple[str, str, list[str], str]] | None = None  # (slug, term, aliases, short)
    _pattern: re.Pattern[str] | None = None
    _lookup: dict[str, tuple[str, str]] | None = None  # normalized word -> (slug, short)

    def _load(self) -> None:
        from apps.curriculum.models import GlossaryTerm

        if self._terms is None:
            self._terms = list(GlossaryTerm.objects.values_list("slug", "term", "aliases", "short"))
        lookup: dict[str, tuple[str, str]] = {}
        for slug, term, aliases, short in self._terms:
            for word in [term, *aliases]:
                key = _normalize(word)
                if key:
                    lookup.setdefault(key, (slug, short))
        self._lookup = lookup
        if not lookup:
            self._pattern = None
            return
        # Longest first so "KV cache" wins over "cache"; spaces match any whitespace, since
        # markdown text wraps lines anywhere.
        words = sorted(lookup, key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(re.escape(part) for part in w.split(" ")) for w in words)
        self._pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)

    @property
    def pattern(self) -> re.Pattern[str] | None:
        if self._lookup is None:
            self._load()
        return self._pattern

    def find(self, word: str) -> tuple[str, str] | None:
        if self._lookup is None:
            self._load()
        assert self._lookup is not None
        return self._lookup.get(_normalize(word))


def _normalize(word: str) -> str:
    return " ".join(word.split()).casefold()


def glossary_index() -> GlossaryIndex:
    """One query: a version that changes whenever a term is added, edited or removed."""
    from apps.curriculum.models import GlossaryTerm

    stats = GlossaryTerm.objects.aggregate(n=Count("id"), latest=Max("updated_at"), top=Max("id"))
    latest = stats["latest"].timestamp() if stats["latest"] else 0
    return GlossaryIndex(version=f"{stats['n']}.{stats['top'] or 0}.{latest:.6f}")


class _Postprocessor(HTMLParser):
    """Re-serializes sanitized HTML, linking the first use of each term per h2 section."""

    def __init__(self, index: GlossaryIndex | None, id_prefix: str, glossary_url: str):
        super().__init__(convert_charrefs=True)
        self.index = index
        self.id_prefix = id_prefix
        self.glossary_url = glossary_url
        self.out: list[str] = []
        self.stack: list[str] = []
        self.used: set[str] = set()
        self.counter = 0
        self.toc: list[dict[str, Any]] = []
        self._heading: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self._tag(tag, attrs))
        if tag in VOID_TAGS:
            return
        self.stack.append(tag)
        if tag == "h2":
            self.used = set()  # a new section: terms get linked again on their first use
        heading_id = dict(attrs).get("id")
        if tag in ("h2", "h3") and heading_id:
            self._heading = {"level": int(tag[1]), "id": heading_id, "title": ""}

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self._tag(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            return
        self.out.append(f"</{tag}>")
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass
        if self._heading is not None and tag == f"h{self._heading['level']}":
            self._heading["title"] = " ".join(self._heading["title"].split())
            self.toc.append(self._heading)
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading["title"] += data
        if self.index is None or any(tag in NO_LINK_TAGS for tag in self.stack):
            self.out.append(escape(data, quote=False))
            return
        self.out.append(self._link_terms(data))

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]]) -> str:
        parts = [tag] + [name if value is None else f'{name}="{escape(value)}"' for name, value in attrs]
        return "<" + " ".join(parts) + ">"

    def _link_terms(self, text: str) -> str:
        pattern = self.index.pattern if self.index else None
        if pattern is None:
            return escape(text, quote=False)
        pieces: list[str] = []
        position = 0
        for match in pattern.finditer(text):
            found = self.index.find(match.group(0)) if self.index else None
            if found is None or found[0] in self.used:
                continue
            slug, short = found
            self.used.add(slug)
            self.counter += 1
            tip_id = f"tip-{self.id_prefix}-{self.counter}"
            pieces.append(escape(text[position : match.start()], quote=False))
            pieces.append(
                f'<span class="term-wrap"><a class="term" href="{escape(self.glossary_url)}#{escape(slug)}" '
                f'data-term="{escape(slug)}" aria-describedby="{tip_id}">{escape(match.group(0), quote=False)}</a>'
                f'<span role="tooltip" id="{tip_id}" class="term-tip">{escape(short, quote=False)}</span></span>'
            )
            position = match.end()
        pieces.append(escape(text[position:], quote=False))
        return "".join(pieces)


def _postprocess(html: str, index: GlossaryIndex | None, id_prefix: str) -> Rendered:
    processor = _Postprocessor(index, id_prefix, reverse("curriculum:glossary"))
    processor.feed(html)
    processor.close()
    return Rendered(html="".join(processor.out), toc=processor.toc)


# --- Public API ------------------------------------------------------------------------


def render_markdown(text: str, *, link_terms: bool = True, index: GlossaryIndex | None = None) -> Rendered:
    """Sanitized HTML (and table of contents) for author-written markdown. Cached.

    ``index``: pass one ``glossary_index()`` when rendering many texts on one page, so the
    glossary version is read once.
    """
    if link_terms and index is None:
        index = glossary_index()
    digest = hashlib.sha256(text.encode()).hexdigest()
    version = index.version if (link_terms and index) else "none"
    key = f"curriculum:md:{RENDERER_VERSION}:{version}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return Rendered(html=cached["html"], toc=cached["toc"])
    clean = sanitize(_markdown_to_html(text))
    rendered = _postprocess(clean, index if link_terms else None, id_prefix=digest[:6])
    cache.set(key, {"html": rendered.html, "toc": rendered.toc}, CACHE_TTL)
    return rendered


def pygments_stylesheet() -> str:
    """The code-highlighting CSS for light and dark mode (static/curriculum/pygments.css)."""
    from pygments.formatters import HtmlFormatter

    light = HtmlFormatter(style="default").get_style_defs(".highlight")
    dark = HtmlFormatter(style="github-dark").get_style_defs(".highlight")
    dark = "\n".join("  " + line for line in dark.splitlines())
    return (
        "/* Generated by apps.curriculum.markdown.pygments_stylesheet(); do not edit by hand. */\n"
        f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
        "/* Code blocks use the site's code background in both modes. */\n"
        ".highlight, .highlight pre { background: var(--code-bg); }\n"
    )
