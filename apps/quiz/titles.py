"""A question's title: a short, complete, plain-text phrase taken from its prompt.

Prompts are markdown, hard-wrapped in ``content/quiz/questions.yaml``, so the first *line*
of a prompt is often half a sentence (and shows raw backticks). The title is instead read
from the prompt's first block as plain text (markdown parsed: inline code keeps its text
without the backticks, emphasis and link syntax go, raw HTML tags are dropped), then:

- whole sentences are kept while they fit in ``TITLE_MAX_LENGTH``;
- a first sentence that is too long is cut at the best boundary that fits, in this order:
  a colon, semicolon or dash; a comma or the start of a subordinate clause ("that",
  "which", ...); before "and" / "or"; any word, never inside parentheses or inline code if that can be helped;
  never after a dangling article or preposition. A shortened title ends with "…".

The result is plain text: templates escape it like any other string.
"""

from __future__ import annotations

import functools
import re

from markdown_it import MarkdownIt

TITLE_MAX_LENGTH = 100
ELLIPSIS = "…"
# A cut shorter than this says too little; a worse boundary further on is preferred.
_MIN_CUT = 20

_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

_ABBREVIATIONS = {"e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "fig.", "eq.", "no."}
# Words a clause starts with: cutting just before them ends the title at a clause boundary.
_CLAUSE_WORDS = {"that", "which", "where", "when", "while", "whereas", "because", "so", "but",
                 "whose", "who", "then", "returning", "using", "given"}
# A title must not end on these ("… returns the…").
_DANGLING = {"a", "an", "the", "of", "to", "for", "in", "on", "at", "by", "with", "from", "and",
             "or", "nor", "as", "into", "than", "that", "which", "is", "are", "its", "their",
             "your", "his", "her", "our", "this", "these", "those", "such", "over", "under",
             "between", "about", "per", "via", "if", "when", "where", "while", "how", "what",
             "why", "who", "whose", "it", "be", "not", "no", "each", "every", "both"}
_CLOSERS = "\"')]\u2019\u201d"  # closing quotes and brackets


def _first_block(prompt: str) -> list[tuple[str, bool]]:
    """The prompt's first block with text (paragraph, heading, list item, cell) as
    (text, is_code) runs, line breaks turned into spaces."""
    for token in _MD.parse(prompt or ""):
        if token.type != "inline" or not (token.content or "").strip():
            continue
        runs: list[tuple[str, bool]] = []
        for child in token.children or []:
            if child.type in ("text", "text_special"):
                runs.append((child.content, False))
            elif child.type == "code_inline":
                runs.append((child.content, True))
            elif child.type in ("softbreak", "hardbreak"):
                runs.append((" ", False))
            elif child.type == "image":
                runs.append(("".join(c.content for c in child.children or [] if c.type == "text"), False))
            # link/emphasis open/close and raw HTML tags are markup, not text
        if "".join(text for text, _ in runs).strip():
            return runs
    return []


def _flatten(runs: list[tuple[str, bool]]) -> tuple[str, list[bool]]:
    """One line of text and, per character, whether it is inline code; whitespace squashed,
    stray backticks (unbalanced markers the parser left as text) removed."""
    chars: list[str] = []
    code: list[bool] = []
    for text, is_code in runs:
        for ch in text.replace("`", "") if not is_code else text.replace("`", "'"):
            if ch.isspace():
                if not chars or chars[-1] == " ":
                    continue
                ch = " "
            elif not is_code and ch in ",;:.?!" and chars and chars[-1] == " " and not code[-1]:
                # A dropped HTML tag left "word , more": the space goes.
                chars.pop()
                code.pop()
            chars.append(ch)
            code.append(is_code)
    while chars and chars[-1] == " ":
        chars.pop()
        code.pop()
    return "".join(chars), code


def _depths(text: str, code: list[bool]) -> list[int]:
    """Bracket nesting depth of each character (inline code does not count)."""
    depth, depths = 0, []
    for ch, is_code in zip(text, code, strict=True):
        if not is_code and ch in "([{":
            depth += 1
        depths.append(depth)
        if not is_code and ch in ")]}":
            depth = max(0, depth - 1)
    return depths


def _sentence_ends(text: str, code: list[bool], depths: list[int]) -> list[int]:
    """Indexes just past each sentence end (".", "?" or "!" then a space or the end)."""
    ends = []
    for m in re.finditer(r"[.?!]+[\"')\]\u2019\u201d]*(?= |$)", text):
        i = m.start()
        if code[i] or depths[i] > 0:
            continue
        word = text[: m.end()].rsplit(" ", 1)[-1].lower()
        if word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", word):
            continue
        ends.append(m.end())
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    return ends


def _cut(sentence: str, code: list[bool], depths: list[int], limit: int) -> str:
    """``sentence`` shortened to at most ``limit`` characters (the ellipsis included) at the
    best boundary."""
    room = limit - len(ELLIPSIS)
    candidates: list[tuple[int, int]] = []  # (rank: lower is better, end of the kept text)
    for m in re.finditer(r" ", sentence):
        i = m.start()
        if i > room or i < 1 or code[i]:
            continue
        kept = sentence[:i].rstrip(" ,;:-\u2013\u2014")
        last_word = kept.rsplit(" ", 1)[-1].strip(_CLOSERS + "(").lower()
        if not kept or last_word in _DANGLING:
            continue
        next_word = sentence[i + 1 :].split(" ", 1)[0].lower()
        before = sentence[i - 1]
        top = depths[i] == 0
        if top and (before in ":;" or next_word in ("-", "\u2013", "\u2014")):
            rank = 0
        elif top and (before == "," or next_word in _CLAUSE_WORDS):
            rank = 1
        elif top and next_word in ("and", "or"):
            rank = 2
        elif top:
            rank = 3
        else:
            rank = 4
        if len(kept) < _MIN_CUT:
            rank += 5
        candidates.append((rank, len(kept)))
    if candidates:
        rank, end = min(candidates, key=lambda c: (c[0], -c[1]))
        return sentence[:end] + ELLIPSIS
    # One very long word: cut it hard.
    return sentence[:room].rstrip() + ELLIPSIS


def _fit(text: str, code: list[bool], limit: int) -> str:
    """Whole sentences of ``text`` while they fit in ``limit``, else the first one cut."""
    if len(text) <= limit:
        return text
    depths = _depths(text, code)
    ends = _sentence_ends(text, code, depths)
    fitting = [end for end in ends if end <= limit]
    if fitting:
        return text[: fitting[-1]].rstrip()
    first = ends[0]
    return _cut(text[:first], code[:first], depths[:first], limit)


def title_from_prompt(prompt: str, *, limit: int = TITLE_MAX_LENGTH) -> str:
    """The title for a question with this markdown ``prompt`` ("" when it has no text)."""
    text, code = _flatten(_first_block(prompt))
    return _fit(text, code, limit)


@functools.lru_cache(maxsize=1024)
def cached_title(prompt: str) -> str:
    return title_from_prompt(prompt)


def shorten(title: str, limit: int) -> str:
    """A title shortened for a narrow place (a breadcrumb, a table cell), at the same
    boundaries as the title itself."""
    return _fit(title, [False] * len(title), limit)
