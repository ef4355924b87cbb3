"""Cut a document body (markdown or plain text) into passages worth embedding and showing.

Sections follow headings; inside a section, paragraphs are packed into chunks of about
``TARGET`` characters, never past ``MAX`` (MiniLM reads ~256 word pieces, ~1,000 chars).
A chunk keeps its section heading as its first line, so a passage read alone still says
what it is about. Markdown markup is reduced to plain text: the index and the snippets
show words, not asterisks.
"""

from __future__ import annotations

import re
import unicodedata

TARGET = 700
MAX = 1000
MAX_CHUNKS = 300  # a runaway body should not flood the index

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_INLINE = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images -> alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links -> their text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference links
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])"), r"\1"),
    (re.compile(r"^\s{0,3}>\s?", re.M), ""),  # block quotes
    (re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.M), "- "),  # list markers
    (re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.M), ""),  # rules
]
# Private-use characters are the selectors' highlight sentinels; control characters other
# than newline/tab have no business in the index (and NUL is rejected by Postgres).
_STRIP = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ue000-\uf8ff]")


def clean_text(text: str) -> str:
    """Normalise unicode and drop characters the index must never store."""
    return _STRIP.sub("", unicodedata.normalize("NFC", text))


def markdown_to_plain(line: str) -> str:
    for pattern, replacement in _INLINE:
        line = pattern.sub(replacement, line)
    return line


def _sections(body: str) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) pairs; fenced code stays one paragraph, markup stripped."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    paragraph: list[str] = []
    in_fence = False

    def flush() -> None:
        text = "\n".join(paragraph).strip()
        if text:
            sections[-1][1].append(text)
        paragraph.clear()

    for raw in body.splitlines():
        if _FENCE.match(raw):
            if in_fence:
                in_fence = False
                flush()
            else:
                flush()
                in_fence = True
            continue
        if in_fence:
            paragraph.append(raw.rstrip())
            continue
        heading = _HEADING.match(raw)
        if heading:
            flush()
            sections.append((markdown_to_plain(heading.group(2)), []))
        elif not raw.strip():
            flush()
        elif raw.lstrip().startswith("|"):
            # Table rows read as "cell · cell"; the |---| rule under the header goes.
            if not _TABLE_RULE.match(raw):
                cells = [markdown_to_plain(cell.strip()) for cell in raw.strip().strip("|").split("|")]
                paragraph.append(" · ".join(cell for cell in cells if cell))
        else:
            paragraph.append(markdown_to_plain(raw.strip()))
    flush()
    return [(h, ps) for h, ps in sections if ps or h]


def _split_long(paragraph: str) -> list[str]:
    """Split a paragraph over MAX at sentence ends, then at spaces, then hard."""
    if len(paragraph) <= MAX:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
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


def chunk_text(body: str, *, summary: str = "") -> list[str]:
    """Passages of ``body`` (each <= MAX chars). An empty body yields the summary, if any,
    so that a glossary term with only a one-line definition is still findable."""
    body = clean_text(body or "")
    chunks: list[str] = []
    for heading, paragraphs in _sections(body):
        prefix = f"{heading}\n" if heading else ""
        current = ""
        for paragraph in paragraphs:
            for piece in _split_long(paragraph):
                candidate = f"{current}\n\n{piece}" if current else piece
                if current and len(prefix) + len(candidate) > MAX:
                    chunks.append(prefix + current)
                    current = piece
                elif current and len(prefix) + len(current) >= TARGET:
                    chunks.append(prefix + current)
                    current = piece
                else:
                    current = candidate
        if current:
            chunks.append(prefix + current)
    if not chunks and summary.strip():
        chunks.append(clean_text(summary.strip())[:MAX])
    return chunks[:MAX_CHUNKS]
