"""Reads from the search index: hybrid keyword + meaning search in one SQL statement.

Two retrievers run side by side inside the statement:

* full text: ``websearch_to_tsquery('english', q)`` against the GIN-indexed tsvector,
  ranked by ``ts_rank_cd`` - finds exact terms ("LoRA", "RAGAS", "KV cache");
* vectors: cosine distance to the query's MiniLM embedding through the HNSW index -
  finds the right passage when the words differ ("make a big model cheaper to adapt").

Each takes its top ``CANDIDATES`` chunks, collapses them to documents (a document ranks
by its best chunk), and the two document rankings are fused with Reciprocal Rank Fusion,
``score = sum(1 / (RRF_K + rank))``: no score calibration between retrievers is needed,
and a document both retrievers found rises above one only a single retriever found.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pgvector import Vector

from apps.core.search.chunking import clean_text

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 512  # longer input is cut (at a word) before parsing and embedding
MAX_LIMIT = 50
CANDIDATES = 50  # chunks each retriever contributes before fusion
EF_SEARCH = 100  # HNSW candidate list; >= CANDIDATES, or the index returns fewer rows
RRF_K = 60  # the constant from Cormack et al. (2009); damps the head of each ranking
# Vector search always returns *something*: the nearest passages of a nonsense query are
# still "nearest". A passage counts for the vector side only if its cosine similarity to
# the query is at least this (setting SEARCH_VECTOR_MIN_SIMILARITY); full-text matches need
# no floor. Measured on the shipped content (471 chunks, all-MiniLM-L6-v2), best chunk per
# query: 40 real questions worded unlike the text 0.328-0.701 (median 0.497); 28 keyboard
# mashes ("asdfghjkl" 0.286, "zxqv wplk" 0.298) at most 0.307, but for "test" (0.362, a real
# word); 25 off-topic questions ("banana bread recipe") 0.115-0.287; 224 random letter strings
# median 0.252, 95th percentile 0.325, max 0.396 (word pieces such as "rnn" inside them).
# End to end through search() - 80 real queries / 30 nonsense and off-topic / 150 random
# strings - queries left with no result / with a result: at 0.30: 1 / 2 / 16; 0.32: 1 / 1 / 4;
# 0.34: 3 / 1 / 2; 0.35: 3 / 1 / 0 (the one nonsense hit is a full-text match). 0.32 lies
# between the worst nonsense (0.307) and the weakest real question (0.328); above it real
# questions go empty faster than random strings do. tests/core/search/test_real_content.py
# checks both sides on the real content.
VECTOR_MIN_SIMILARITY = 0.32
SNIPPET_CHARS = 240
# Full text ranks at most this many matching chunks. Only a word present in most of a large
# index reaches it (at 100k chunks such a query cost ~160 ms to rank); the vector side
# carries those unselective queries anyway. Far above the shipped content's size.
FTS_RANK_WINDOW = 5000

# ts_headline marks matches with these private-use characters (which the index strips
# from stored text); the snippet is HTML-escaped first, then only they become <mark>.
_OPEN, _CLOSE = "\ue000", "\ue001"
_HEADLINE_OPTIONS = (
    f'StartSel="{_OPEN}", StopSel="{_CLOSE}", MaxWords=18, MinWords=8, ShortWord=2, '
    'MaxFragments=2, FragmentDelimiter=" … "'
)
_TITLE_OPTIONS = f'StartSel="{_OPEN}", StopSel="{_CLOSE}", HighlightAll=true'
_WORD = re.compile(r"\w")
_LINE_END = set(".!?:;,…·—")

FULLTEXT = "fulltext"
VECTOR = "vector"


@dataclass(frozen=True)
class SearchHit:
    """One document in the results, represented by its best-matching passage.

    ``snippet`` and ``title_html`` are safe HTML: escaped text in which only ``<mark>``
    tags (the query's words) are markup. ``retrievers`` says which retrievers found it:
    ``"fulltext"``, ``"vector"`` or both, and ``fulltext_rank`` / ``vector_rank`` where it
    placed in each (1 = first; None = not found). ``score`` is the RRF score (higher is better).
    """

    kind: str
    key: str
    title: str
    url: str
    snippet: SafeString
    score: float
    retrievers: tuple[str, ...]
    summary: str
    title_html: SafeString
    fulltext_rank: int | None = None
    vector_rank: int | None = None


def normalize_query(query: str | None) -> str:
    """Collapse whitespace, drop control characters, cut to MAX_QUERY_CHARS at a word."""
    text = " ".join(clean_text(query or "").split())
    if len(text) > MAX_QUERY_CHARS:
        cut = text[:MAX_QUERY_CHARS]
        text = cut.rsplit(" ", 1)[0] if " " in cut[MAX_QUERY_CHARS // 2 :] else cut
    return text


def search(query: str, *, kinds: list[str] | None = None, limit: int = 20) -> list[SearchHit]:
    """Documents matching ``query`` best first, one hit per (kind, key).

    An empty (or punctuation-only) query returns ``[]``. Very long input is cut; query
    syntax characters are safe (``websearch_to_tsquery`` never raises on user input).
    ``kinds`` limits the result to those kinds. If the embedding model cannot load, the
    search degrades to full text only instead of failing.
    """
    text = normalize_query(query)
    if not _WORD.search(text):
        return []
    limit = max(1, min(int(limit), MAX_LIMIT))
    kinds = sorted(set(kinds)) if kinds else None
    embedding = _query_embedding(text)
    sql, params = hybrid_sql(text, embedding, kinds=kinds, limit=limit)
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL: scoped to this transaction, so a pooled connection is not left changed.
        cursor.execute(hnsw_settings_sql(filtered=bool(kinds and embedding)))
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    hits = []
    for kind, key, title, url, summary, score, fts_rank, vec_rank, headline, title_headline, text_start in rows:
        retrievers = tuple(name for name, rank in ((FULLTEXT, fts_rank), (VECTOR, vec_rank)) if rank is not None)
        if headline and _OPEN in headline:
            # ts_headline picks a fragment; say so when it does not begin the passage.
            plain = headline.replace(_OPEN, "").replace(_CLOSE, "")
            snippet = _highlight(_one_line(headline if text_start.startswith(plain[:30]) else f"… {headline}"))
        else:
            snippet = _plain_snippet(text_start)
        hits.append(
            SearchHit(
                kind=kind, key=key, title=title, url=url, snippet=snippet, score=float(score),
                retrievers=retrievers, summary=summary, title_html=_highlight(title_headline or title),
                fulltext_rank=fts_rank, vector_rank=vec_rank,
            )
        )
    return hits


def hnsw_settings_sql(*, filtered: bool) -> str:
    """Transaction-local HNSW settings for the statement (``set_config(..., true)`` = SET LOCAL).

    Iterative scans (pgvector >= 0.8) keep a filtered HNSW query from coming up short when
    the filter rejects most of the ``ef_search`` nearest rows.
    """
    sql = f"SELECT set_config('hnsw.ef_search', '{int(EF_SEARCH)}', true)"
    return sql + (", set_config('hnsw.iterative_scan', 'relaxed_order', true)" if filtered else "")


def hybrid_sql(
    text: str, embedding: list[float] | None, *, kinds: list[str] | None, limit: int
) -> tuple[str, dict]:
    """The single statement behind :func:`search` (exposed for EXPLAIN in tests and the bench)."""
    kind_filter = "AND c.kind = ANY(%(kinds)s)" if kinds else ""
    tsquery = "websearch_to_tsquery('english', %(q)s)"  # immutable: folded to a constant at plan time
    # Only the constant fragments above are interpolated; every value is a bound parameter.
    vector_ctes = f"""
    vec_chunks AS (
        SELECT c.id, c.kind, c.key, c.embedding <=> %(embedding)s::vector AS distance
        FROM core_searchchunk c
        WHERE true {kind_filter}
        ORDER BY c.embedding <=> %(embedding)s::vector
        LIMIT %(candidates)s
    ),
    vec AS (
        SELECT kind, key, (array_agg(id ORDER BY distance, id))[1] AS chunk_id,
               row_number() OVER (ORDER BY min(distance), min(id)) AS rnk
        FROM vec_chunks
        WHERE distance <= %(max_distance)s
        GROUP BY kind, key
    ),""" if embedding is not None else """
    vec AS (SELECT NULL::varchar AS kind, NULL::varchar AS key, NULL::bigint AS chunk_id, NULL::bigint AS rnk
            WHERE false),"""  # noqa: S608
    sql = f"""
    WITH fts_matches AS (
        -- Ranking reads every matching tsvector; a word found in most chunks would make the
        -- whole statement pay for it (see bench/search). Rank at most a window of matches.
        SELECT c.id, c.kind, c.key, c.search_vector
        FROM core_searchchunk c
        WHERE c.search_vector @@ {tsquery} {kind_filter}
        LIMIT %(fts_window)s
    ),
    fts_chunks AS (
        SELECT id, kind, key, ts_rank_cd(search_vector, {tsquery}) AS rank_score
        FROM fts_matches
        ORDER BY rank_score DESC, id
        LIMIT %(candidates)s
    ),
    fts AS (
        SELECT kind, key, (array_agg(id ORDER BY rank_score DESC, id))[1] AS chunk_id,
               row_number() OVER (ORDER BY max(rank_score) DESC, min(id)) AS rnk
        FROM fts_chunks
        GROUP BY kind, key
    ),{vector_ctes}
    fused AS (
        SELECT coalesce(f.kind, v.kind) AS kind, coalesce(f.key, v.key) AS key,
               -- the full-text chunk contains the query's words, so it makes the better snippet
               coalesce(f.chunk_id, v.chunk_id) AS chunk_id,
               coalesce(1.0 / (%(rrf_k)s + f.rnk), 0) + coalesce(1.0 / (%(rrf_k)s + v.rnk), 0) AS score,
               f.rnk AS fts_rank, v.rnk AS vec_rank
        FROM fts f FULL OUTER JOIN vec v ON f.kind = v.kind AND f.key = v.key
        ORDER BY score DESC, least(f.rnk, v.rnk), coalesce(f.key, v.key)
        LIMIT %(limit)s
    ),
    -- Highlight every word of the query that a passage contains (OR), not only passages that
    -- match all of them (AND): the match may lie partly in the title, or be by meaning.
    -- Each stem is quoted for to_tsquery (chr(39) = quote, chr(92) = backslash, both doubled);
    -- 'simple' keeps the stems as they are.
    hl AS (
        SELECT to_tsquery('simple', coalesce(string_agg(
                   chr(39) || replace(replace(lexeme, chr(92), chr(92) || chr(92)), chr(39), chr(39) || chr(39))
                   || chr(39), ' | '), '')) AS q
        FROM unnest(tsvector_to_array(to_tsvector('english', %(q)s))) AS lexeme
    )
    SELECT fu.kind, fu.key, c.title, c.url, c.summary, fu.score, fu.fts_rank, fu.vec_rank,
           ts_headline('english', c.text, hl.q, %(headline_options)s),
           ts_headline('english', c.title, hl.q, %(title_options)s),
           left(c.text, %(snippet_chars)s)
    FROM fused fu JOIN core_searchchunk c ON c.id = fu.chunk_id CROSS JOIN hl
    ORDER BY fu.score DESC, least(fu.fts_rank, fu.vec_rank), fu.key
    """  # noqa: S608
    params = {
        "q": text, "kinds": kinds, "candidates": CANDIDATES, "rrf_k": RRF_K, "limit": limit,
        "fts_window": FTS_RANK_WINDOW,
        "max_distance": 1.0 - vector_min_similarity(), "headline_options": _HEADLINE_OPTIONS,
        "title_options": _TITLE_OPTIONS, "snippet_chars": SNIPPET_CHARS + 1,
        "embedding": Vector._to_db(embedding) if embedding is not None else None,
    }
    return sql, params


def vector_min_similarity() -> float:
    """The cosine-similarity floor for vector hits (see VECTOR_MIN_SIMILARITY)."""
    return float(getattr(settings, "SEARCH_VECTOR_MIN_SIMILARITY", VECTOR_MIN_SIMILARITY))


def _query_embedding(text: str) -> list[float] | None:
    from apps.core.embeddings import embed_query

    try:
        return embed_query(text).tolist()
    except Exception:  # the model is optional at read time: keyword search still works
        logger.exception("search: the embedding model is unavailable; using full-text search only")
        return None


def _highlight(headline: str) -> SafeString:
    """Escape everything, then turn only the sentinel pairs into <mark> tags."""
    escaped = str(escape(headline))
    if escaped.count(_OPEN) != escaped.count(_CLOSE):
        escaped = escaped.replace(_OPEN, "").replace(_CLOSE, "")
    return mark_safe(escaped.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>"))  # noqa: S308 - escaped above


def _one_line(text: str) -> str:
    """Passage text on one line. The index keeps line breaks where the page had them (after
    the section heading, between list items, table rows, code lines); most such lines end
    without punctuation, so the break becomes " · " rather than a space that would run
    "Tools" and "LangSmith" together. Whitespace is collapsed; sentinels are kept."""
    lines = [line for line in (" ".join(part.split()) for part in text.split("\n")) if line]
    out = lines[0] if lines else ""
    for line in lines[1:]:
        ends = out.rstrip(_OPEN + _CLOSE)[-1:]
        out += (" " if ends in _LINE_END else " · ") + line
    return out


def _plain_snippet(text: str) -> SafeString:
    text = _one_line(text)
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
    return escape(text)
