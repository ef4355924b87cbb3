"""Markdown -> safe HTML, with a table of contents and glossary tooltips.

Pipeline: markdown-it-py (CommonMark: linear-time parsing, nesting capped by
``maxNesting``; plus tables, strikethrough, Pygments-highlighted code and heading ids) ->
nh3 sanitizer (an allow-list; anything else is dropped, so authored text can never carry
script, event handlers, javascript: links or inline styles) -> one pass over the sanitized
HTML that links glossary terms and collects the headings for the table of contents.

Terms are linked after sanitizing because the tooltip markup is ours (trusted) and needs
attributes the sanitizer would rightly refuse from authors (role, aria-describedby).

Raw HTML that the sanitizer would drop *with its content* (``<script>``, ``<style>``,
``<textarea>``...) is shown as text instead, with a warning for the author: an unclosed
``<style>`` would otherwise swallow the rest of the article, headings included.

Rendered output is cached by (renderer version, glossary version, text hash): editing a
term changes the glossary version, so every page picks up the new tooltip.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from html import escape
from html.parser import HTMLParser
from typing import Any

import nh3
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.urls import reverse
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block.html_block import HTML_SEQUENCES, html_block
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

logger = logging.getLogger(__name__)

# Bump when the pipeline's output changes, so cached HTML from the old one is not served.
RENDERER_VERSION = "5"
CACHE_TTL = 60 * 60 * 24 * 7

# markdown-it's guard against deep recursion: block nesting past it is cut off (so we
# refuse such a body at save), inline nesting past it is kept as plain text. Each list
# level costs two (the list and its item), so 20 allows about nine nested list levels.
MAX_NESTING = 20
# Inline markup nests far less (a link in emphasis in bold is 3), and parsing an unclosed
# "[" costs up to this many look-aheads per character: a low cap keeps that cheap.
MAX_INLINE_NESTING = 8
DEFAULT_MAX_BODY_BYTES = 50_000

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

# Elements whose content an HTML parser reads as raw text up to the closing tag (or the
# end of the document), and that the sanitizer drops together with that content.
_SWALLOWING_TAG = re.compile(
    r"<\s*/?\s*(script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|plaintext|template)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[dict[str, Any]] = field(default_factory=list)  # [{"level": 2, "id": ..., "title": ...}]
    # Things the author should know: what was shown as text instead of rendered.
    warnings: list[str] = field(default_factory=list)
    # Why this text cannot be saved: part of it would not be shown (see check_renderable).
    errors: list[str] = field(default_factory=list)


class UnrenderableBody(ValueError):
    """The text cannot be rendered in full; the message says why, for the author."""


def max_body_bytes() -> int:
    return int(getattr(settings, "CURRICULUM_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


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


# --- Markdown -> HTML -----------------------------------------------------------------


def _slugify(title: str) -> str:
    """The ids Python-Markdown's toc extension gave, so links into old articles still work."""
    value = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def _heading_ids(state: StateCore) -> None:
    # A counter per slug keeps this linear even for thousands of identical headings
    # (the usual "try -1, -2, ..." loop is quadratic).
    seen: dict[str, int] = {}
    for index, token in enumerate(state.tokens):
        if token.type != "heading_open":
            continue
        inline = state.tokens[index + 1]
        title = "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))
        base = _slugify(title) or "section"
        count = seen.get(base, 0)
        seen[base] = count + 1
        token.attrSet("id", base if count == 0 else f"{base}_{count}")


def _closing_positions(state: StateBlock) -> dict[int, int]:
    """Where the last closing sequence of each raw-HTML block type starts in the text."""
    positions = state.env.setdefault("_html_last_close", {})
    if not positions:
        for number, (_, closing, _) in enumerate(HTML_SEQUENCES[:5]):
            last = -1
            for match in closing.finditer(state.src):
                last = match.start()
            positions[number] = last
    return positions


def _bounded_html_block(state: StateBlock, startLine: int, endLine: int, silent: bool) -> bool:
    """markdown-it's html_block, except that an unclosed ``<style>``/``<!--``... block ends
    at the next blank line instead of running to the end of the text.

    Whether a closing tag exists anywhere later is looked up once per text, so a body of
    many unclosed blocks stays linear.
    """
    if silent or not state.md.options.get("html") or state.is_code_block(startLine):
        return html_block(state, startLine, endLine, silent)
    start = state.bMarks[startLine] + state.tShift[startLine]
    line_text = state.src[start : state.eMarks[startLine]]
    for number, (opening, closing, _) in enumerate(HTML_SEQUENCES[:5]):
        if opening.search(line_text):
            closed_on_first_line = closing.search(line_text[1:]) is not None
            if closed_on_first_line or _closing_positions(state)[number] > start:
                break
            next_line = startLine + 1
            while next_line < endLine and not state.isEmpty(next_line):
                next_line += 1
            token = state.push("html_block", "", 0)
            token.map = [startLine, next_line]
            token.content = state.getLines(startLine, next_line, state.blkIndent, True)
            token.meta = {"unclosed": True}
            state.line = next_line
            return True
    return html_block(state, startLine, endLine, silent)


def _warn(env: EnvType, message: str) -> None:
    warnings = env.setdefault("warnings", [])
    if message not in warnings:
        warnings.append(message)


def _guard_raw_html(state: StateCore) -> None:
    """Show raw HTML as text where the sanitizer would drop it together with what follows."""
    for token in state.tokens:
        if token.type == "html_block":
            found = _SWALLOWING_TAG.search(token.content)
            if found or (token.meta or {}).get("unclosed"):
                token.type = "html_as_text"
                what = f"<{found.group(1).lower()}>" if found else "unclosed raw HTML"
                _warn(state.env, _as_text_warning(what))
        elif token.type == "inline":
            for child in token.children or []:
                if child.type == "html_inline" and (found := _SWALLOWING_TAG.search(child.content)):
                    child.type = "text"
                    _warn(state.env, _as_text_warning(f"<{found.group(1).lower()}>"))


def _as_text_warning(what: str) -> str:
    return (
        f"Raw HTML {what} is not allowed in articles, so it is shown as text. "
        "Remove it, or put it in a ```html code block to show it on purpose."
    )


@lru_cache(maxsize=64)
def _lexer(language: str):
    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)


def _render_code(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    # Same markup as Python-Markdown's codehilite: <div class="highlight"><pre><code>, and
    # Pygments' short token classes, which static/curriculum/pygments.css styles.
    token = tokens[idx]
    language = token.info.strip().split(maxsplit=1)[0].lower() if token.info.strip() else ""
    return highlight(token.content, _lexer(language), _FORMATTER)


def _render_html_as_text(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    return f"<pre><code>{escape(tokens[idx].content, quote=False)}</code></pre>\n"


def _render_cell(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    # markdown-it aligns with style="text-align:..."; the sanitizer drops styles, so use
    # the align attribute, as before.
    token = tokens[idx]
    style = token.attrGet("style")
    if style:
        token.attrs.pop("style", None)
        token.attrSet("align", str(style).split(":", 1)[1])
    return self.renderToken(tokens, idx, options, env)


def _inline_with(inline_md: MarkdownIt):
    """markdown-it's core "inline" step, run by a parser with a lower nesting cap."""

    def inline(state: StateCore) -> None:
        for token in state.tokens:
            if token.type == "inline":
                if token.children is None:
                    token.children = []
                inline_md.inline.parse(token.content, inline_md, state.env, token.children)

    return inline


def _configured(max_nesting: int) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "maxNesting": max_nesting})
    md.enable(["table", "strikethrough"])
    md.block.ruler.at("html_block", _bounded_html_block, {"alt": ["paragraph", "reference", "blockquote"]})
    md.core.ruler.push("heading_ids", _heading_ids)
    md.core.ruler.push("guard_raw_html", _guard_raw_html)
    md.add_render_rule("fence", _render_code)
    md.add_render_rule("code_block", _render_code)
    md.add_render_rule("html_as_text", _render_html_as_text)
    md.add_render_rule("th_open", _render_cell)
    md.add_render_rule("td_open", _render_cell)
    return md


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Two parsers with the same rules, so neither mutates shared options per call
    # (requests render in several threads).
    md = _configured(MAX_NESTING)
    md.core.ruler.at("inline", _inline_with(_configured(MAX_INLINE_NESTING)))
    return md


def _markdown_to_html(text: str) -> tuple[str, list[str], list[str]]:
    """HTML, warnings, and errors (reasons part of the text would not be shown)."""
    md = _parser()
    env: dict[str, Any] = {}
    tokens = md.parse(text, env)
    errors = []
    # Past maxNesting markdown-it skips the rest of the text: show what it kept, but
    # never let an author save it.
    if any(token.level >= MAX_NESTING - 1 for token in tokens):
        errors.append(
            f"Lists and quotes are nested too deeply (more than {MAX_NESTING // 2 - 1} levels): "
            "everything below that depth would be cut off. Flatten the nesting."
        )
    return md.renderer.render(tokens, md.options, env), env.get("warnings", []), errors


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
        if tag == "pre":
            # A long line scrolls the block sideways; keyboard users reach it with Tab.
            attrs = [*attrs, ("tabindex", "0")]
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


def body_problems(text: str) -> list[str]:
    """Why ``text`` could not be saved as an article body; no database, no cache (the loader
    checks content files with it before anything is written)."""
    limit = max_body_bytes()
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        return [_size_error(size, limit)]
    try:
        return _markdown_to_html(text)[2]
    except Exception as exc:
        return [_crash_error(exc)]


def _size_error(size: int, limit: int) -> str:
    return f"The text is {size / 1000:,.0f} KB; articles are limited to {limit / 1000:,.0f} KB. Split it up."


def _crash_error(exc: Exception) -> str:
    return f"This text cannot be rendered ({type(exc).__name__}); simplify its markup."


def render_checked(text: str) -> Rendered:
    """Render for an author (save, live preview): never raises; ``errors`` says why the
    text cannot be saved. Over the size limit nothing is rendered at all."""
    limit = max_body_bytes()
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        return Rendered(html="", errors=[_size_error(size, limit)])
    try:
        return render_markdown(text)
    except Exception as exc:  # a renderer bug must not store a body that breaks every view
        logger.exception("rendering a body failed")
        return Rendered(html="", errors=[_crash_error(exc)])


def check_renderable(text: str) -> list[str]:
    """Refuse (``UnrenderableBody``) a body that cannot be shown in full; else its warnings.

    The services call it at save, so a body that would fail or lose text on every view is
    never stored.
    """
    rendered = render_checked(text)
    if rendered.errors:
        raise UnrenderableBody(" ".join(rendered.errors))
    return rendered.warnings


def render_markdown(text: str, *, link_terms: bool = True, index: GlossaryIndex | None = None) -> Rendered:
    """Sanitized HTML (and table of contents) for author-written markdown. Cached.

    ``index``: pass one ``glossary_index()`` when rendering many texts on one page, so the
    glossary version is read once. Never refuses text: ``errors`` says what a save would
    refuse (see ``check_renderable``).
    """
    if link_terms and index is None:
        index = glossary_index()
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    version = index.version if (link_terms and index) else "none"
    key = f"curriculum:md:{RENDERER_VERSION}:{version}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return Rendered(**cached)
    html, warnings, errors = _markdown_to_html(text)
    clean = sanitize(html)
    rendered = _postprocess(clean, index if link_terms else None, id_prefix=digest[:6])
    rendered = Rendered(html=rendered.html, toc=rendered.toc, warnings=warnings, errors=errors)
    cache.set(key, asdict(rendered), CACHE_TTL)
    return rendered


# The code background of each colour scheme (static/css/app.css, --code-bg).
CODE_BG_LIGHT, CODE_BG_DARK = "#f3f4f8", "#232631"
MIN_CODE_CONTRAST = 4.6  # WCAG AA for normal text is 4.5; a little margin for rounding


def _luminance(hex_color: str) -> float:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str) -> float:
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _readable(color: str, background: str) -> str:
    """``color`` moved toward black (on a light background) or white (on a dark one) just
    far enough to reach MIN_CODE_CONTRAST, keeping its hue as far as possible."""
    if len(color) == 4:  # #abc -> #aabbcc
        color = "#" + "".join(ch * 2 for ch in color[1:])
    target = 0 if _luminance(background) > 0.5 else 255
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    for step in range(21):
        mixed = "#" + "".join(f"{round(c + (target - c) * step / 20):02x}" for c in rgb)
        if contrast_ratio(mixed, background) >= MIN_CODE_CONTRAST:
            return mixed
    return "#000000" if target == 0 else "#ffffff"


def _with_contrast(css: str, background: str) -> str:
    return re.sub(
        r"(?<![-\w])color: (#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3})\b", lambda m: f"color: {_readable(m[1], background)}", css
    )


def pygments_stylesheet() -> str:
    """The code-highlighting CSS for light and dark mode (static/curriculum/pygments.css),
    every token colour adjusted to WCAG AA contrast on the site's code background."""
    from pygments.formatters import HtmlFormatter

    light = _with_contrast(HtmlFormatter(style="default").get_style_defs(".highlight"), CODE_BG_LIGHT)
    dark = _with_contrast(HtmlFormatter(style="github-dark").get_style_defs(".highlight"), CODE_BG_DARK)
    dark = "\n".join("  " + line for line in dark.splitlines())
    return (
        "/* Generated by apps.curriculum.markdown.pygments_stylesheet(); do not edit by hand. */\n"
        f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
        "/* Code blocks use the site's code background in both modes. */\n"
        ".highlight, .highlight pre { background: var(--code-bg); }\n"
    )
