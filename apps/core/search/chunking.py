"""Cut a document body (markdown or plain text) into passages worth embedding and showing.

The body is parsed with markdown-it (CommonMark + tables + strikethrough, as the site's
renderer does) and read back as plain text: the index, the embeddings and the snippets
hold words, never markup. Headings, list markers, emphasis, backticks, link syntax,
table pipes, block quotes, raw HTML tags and rules are structure, not text; what a reader
sees on the rendered page is kept (link text, image alt text, code, table cells).

Sections follow headings (every level); inside a section, blocks (a paragraph, a whole
list, a table, a code block) are packed into chunks of about ``TARGET`` characters, never
past ``MAX`` (MiniLM reads ~256 word pieces, ~1,000 chars). A chunk keeps its section
heading as its first line, so a passage read alone still says what it is about, and
carries the heading's anchor (the id the page gives it) when the source supplied them.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

logger = logging.getLogger(__name__)

TARGET = 700
MAX = 1000
MAX_CHUNKS = 300  # a runaway body should not flood the index

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Private-use characters are the selectors' highlight sentinels; control characters other
# than newline/tab have no business in the index (and NUL is rejected by Postgres).
_STRIP = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ue000-\uf8ff]")
# Box drawing and block elements: directory trees and diagrams in code blocks ("├──", "│").
_DRAWING = re.compile(r"[\u2500-\u259f]")
# A "word" of code that only draws: rules and box edges ("+-----+", "|---", "~~~"), a lone
# "|" (a box side), "#"s (comment markers). Operators ("==", "**", "//", "+") stay.
_ASCII_ART = re.compile(r"^(?:[+|]?([-=_~*])\1{2,})+[+|]?$|^[|`]$|^#+$")
_ARROWS = {re.compile(r"^[-=]+>$"): "→", re.compile(r"^<[-=]+$"): "←", re.compile(r"^<[-=]+>$"): "↔"}
_WORDY = re.compile(r"\w")
_TAG = re.compile(r"<!--.*?(?:-->|$)|<[^>]*>", re.S)


def _parser() -> MarkdownIt:
    # html=True so raw HTML is recognised as HTML (and dropped), not read as text.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


_MD = _parser()


@dataclass(frozen=True)
class Chunk:
    """One passage: plain text (its section heading on the first line) and the anchor of
    that section on the document's page ("" for the part before the first heading, or
    when the source gave no anchors)."""

    text: str
    anchor: str = ""


@dataclass
class _Section:
    heading: str
    number: int | None  # which heading of the body (0 = first); None before the first
    blocks: list[str] = field(default_factory=list)


def clean_text(text: str) -> str:
    """Normalise unicode and drop characters the index must never store."""
    return _STRIP.sub("", unicodedata.normalize("NFC", text))


def _squash(text: str) -> str:
    """One line of prose: drawing characters gone, whitespace collapsed."""
    return " ".join(_DRAWING.sub(" ", text).split())


def _code_text(code: str) -> str:
    """Code as lines of words: indentation, tree and ASCII-art characters dropped."""
    lines = []
    for line in _DRAWING.sub(" ", code).splitlines():
        words = [_arrow(w) for w in line.split()]
        words = [w for w in words if not _ASCII_ART.match(w)]
        if words:
            lines.append(" ".join(words))
    return "\n".join(lines)


def _arrow(word: str) -> str:
    """Keep "->" and "=>" as arrows: in diagrams they mean something ("documents -> chunk")."""
    for pattern, arrow in _ARROWS.items():
        if pattern.match(word):
            return arrow
    return word


def _inline_text(children: Sequence[Token] | None) -> str:
    """What a reader sees of an inline run: text, code, link text and image alt text; no
    markers, no raw HTML tags."""
    parts: list[str] = []
    for child in children or []:
        if child.type in ("text", "code_inline", "text_special"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child.children))
        # link_open/close, em/strong/s open/close, html_inline: markup only
    return "".join(parts)


def _sections(body: str) -> tuple[list[_Section], int]:
    """The body's sections, each with its blocks as plain text (lines joined by newlines),
    and how many headings the body has."""
    sections = [_Section("", None)]
    lines: list[str] = []
    cells: list[str] = []
    headings = 0
    in_heading = in_cell = False

    def flush() -> None:
        text = "\n".join(line for line in lines if line)
        if text:
            sections[-1].blocks.append(text)
        lines.clear()

    for token in _MD.parse(body):
        kind = token.type
        if kind == "heading_open":
            flush()
            in_heading = True
        elif kind == "heading_close":
            in_heading = False
            headings += 1
        elif kind in ("th_open", "td_open"):
            in_cell = True
        elif kind in ("th_close", "td_close"):
            in_cell = False
        elif kind == "tr_close":
            # A table row reads as "cell · cell"; cells of bare punctuation ("#", "-") go.
            lines.append(" · ".join(cell for cell in cells if _WORDY.search(cell)))
            cells.clear()
        elif kind == "inline":
            text = _squash(_inline_text(token.children))
            if in_heading:
                sections.append(_Section(text, headings))
            elif in_cell:
                cells.append(text)
            else:
                lines.append(text)
        elif kind in ("fence", "code_block"):
            lines.append(_code_text(token.content))
        elif kind == "html_block":
            lines.append(_squash(_TAG.sub(" ", token.content)))
        # A top-level block ends: a paragraph, a whole list, a table, a quote is one block.
        if token.level == 0 and token.nesting <= 0:
            flush()
    flush()
    return [s for s in sections if s.blocks], headings


def markdown_to_plain(text: str) -> str:
    """The plain text of a markdown snippet (a summary, a definition), on one line."""
    sections, _ = _sections(clean_text(text or ""))
    return " ".join(word for s in sections for word in " ".join([s.heading, *s.blocks]).split())


def _split_line(line: str) -> list[str]:
    """Split a line over MAX at sentence ends, then at spaces, then hard."""
    if len(line) <= MAX:
        return [line]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(line):
        while len(sentence) > MAX:
            cut = sentence.rfind(" ", 0, MAX)
            cut = cut if cut > MAX // 2 else MAX
            head, sentence = sentence[:cut].strip(), sentence[cut:].strip()
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        if current and len(current) + 1 + len(sentence) > MAX:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def _split_long(block: str) -> list[str]:
    """Split a block over MAX between its lines (list items, rows), long lines further."""
    if len(block) <= MAX:
        return [block]
    pieces: list[str] = []
    current = ""
    for line in block.split("\n"):
        for part in _split_line(line):
            if current and len(current) + 1 + len(part) > MAX:
                pieces.append(current)
                current = part
            else:
                current = f"{current}\n{part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def chunk_document(
    body: str, *, summary: str = "", heading_ids: Sequence[str] | None = None, name: str = ""
) -> list[Chunk]:
    """Passages of ``body`` (each <= MAX chars plus its heading line).

    ``heading_ids``: the ids the document's page gives the body's headings, in order (see
    ``SearchDocument.heading_ids``); each passage then carries its section's id. If their
    number differs from the headings found, no passage gets one (better the top of the page
    than a wrong place; ``name`` says which document in the log). An empty body yields the
    summary, if any, so that a glossary term with only a one-line definition is findable.
    """
    sections, headings = _sections(clean_text(body or ""))
    if heading_ids is not None and len(heading_ids) != headings:
        logger.warning(
            "search: %s has %d headings but %d heading ids; its passages link to the top of the page",
            name or "a document",
            headings,
            len(heading_ids),
        )
        heading_ids = None
    chunks: list[Chunk] = []
    for section in sections:
        anchor = heading_ids[section.number] if heading_ids and section.number is not None else ""
        prefix = f"{section.heading}\n" if section.heading else ""
        current = ""
        for block in section.blocks:
            for piece in _split_long(block):
                candidate = f"{current}\n\n{piece}" if current else piece
                if current and (len(prefix) + len(candidate) > MAX or len(prefix) + len(current) >= TARGET):
                    chunks.append(Chunk(prefix + current, anchor))
                    current = piece
                else:
                    current = candidate
        if current:
            chunks.append(Chunk(prefix + current, anchor))
    if not chunks and summary.strip():
        chunks.append(Chunk(markdown_to_plain(summary)[:MAX]))
    return chunks[:MAX_CHUNKS]


def chunk_text(body: str, *, summary: str = "") -> list[str]:
    """The passages' texts (see :func:`chunk_document`)."""
    return [chunk.text for chunk in chunk_document(body, summary=summary)]
