"""The /search/ page: a plain GET form that htmx turns into search-as-you-type."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from apps.core.search.chunking import clean_text
from apps.core.search.registry import search_sources
from apps.core.search.selectors import MAX_QUERY_CHARS, SearchHit, normalize_query, search

EXAMPLES = [
    "how do transformers know word order?",
    "cheap way to fine-tune a big model",
    "RAG evaluation",
    "what is a KV cache",
]
RESULT_LIMIT = 20


def search_page(request: HttpRequest) -> HttpResponse:
    query = normalize_query(request.GET.get("q"))
    sources = search_sources()
    kinds = [k for k in request.GET.getlist("kind") if k in sources]
    hits = search(query, kinds=kinds or None, limit=RESULT_LIMIT) if query else []
    groups = _group(hits, sources)
    context = {
        "query": query,
        "truncated": len(" ".join(clean_text(request.GET.get("q") or "").split())) > MAX_QUERY_CHARS,
        "kinds": kinds,
        "kind_choices": sorted(((k, s.label) for k, s in sources.items()), key=lambda kv: kv[1]),
        "groups": groups,
        "count": len(hits),
        "examples": EXAMPLES,
    }
    # htmx asks for the results only; a history restore (back button) needs the whole page.
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    context["partial"] = partial
    response = render(request, "core/search_results.html" if partial else "core/search.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _group(hits: list[SearchHit], sources) -> list[dict]:
    """Hits grouped by kind; groups ordered by their best hit, hits keep their order."""
    groups: dict[str, dict] = {}
    for hit in hits:
        source = sources.get(hit.kind)
        label = source.label if source else hit.kind.title()
        groups.setdefault(hit.kind, {"kind": hit.kind, "label": label, "hits": []})["hits"].append(hit)
    return list(groups.values())
