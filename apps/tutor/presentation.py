"""How a stored turn reads on the page: the answer as sanitized markdown, its [n] markers
linked to the citation list, each citation linking to the article section it came from."""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.curriculum.markdown import render_markdown
from apps.tutor.models import Turn

_MARKER = re.compile(r"\[(\d{1,2})\]")


def answer_html(turn: Turn) -> SafeString:
    html = render_markdown(turn.answer, link_terms=False).html  # sanitized
    valid = {c["n"] for c in turn.citations}

    def link(match: re.Match) -> str:
        n = int(match.group(1))
        if n not in valid:
            return match.group(0)
        return f'<a class="cite" href="#turn-{turn.id}-cite-{n}" aria-label="source {n}">[{n}]</a>'

    return mark_safe(_MARKER.sub(link, str(html)))  # noqa: S308 - sanitized above; the link is ours


def turn_view(turn: Turn) -> dict:
    cited = set(turn.cited)
    citations = [
        {**c, "title": escape(c["title"]), "used": c["n"] in cited, "excerpt": " ".join(c["text"].split())[:220]}
        for c in turn.citations
    ]
    return {"turn": turn, "answer_html": answer_html(turn), "citations": citations}
