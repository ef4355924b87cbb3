"""Reads from the search index: hybrid keyword + meaning search in one SQL statement.

Three retrievers propose candidate documents inside the statement:

* full text: the GIN-indexed tsvector matched against any word of the query, ranked by
  ``ts_rank_cd``; a document that contains *every* word (``websearch_to_tsquery``) is a
  full-text hit - finds exact terms ("LoRA", "RAGAS", "KV cache");
* passages: cosine distance to the query's MiniLM embedding through the HNSW index - finds
  the right passage when the words differ ("make a big model cheaper to adapt");
* cards: the same over one short embedding per document (title + summary, ``SearchCard``)
  - a short question is often nearer a one-line description of the idea than any passage.

Each proposes its top ``CANDIDATES``; every candidate is then scored from its exact best
passage similarity, its card similarity, its full-text rank and a small prior by kind (the
weights below, measured by bench/search/relevance.py on 114 learner questions). A candidate
is returned when it contains every word of the query or is close enough in meaning (the
floors below); the rest were only ranked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pgvector import Vector

from apps.core.generations import Generation
from apps.core.search.chunking import clean_text

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 512  # longer input is cut (at a word) before parsing and embedding
MAX_LIMIT = 50
CANDIDATES = 50  # chunks each retriever contributes before fusion
EF_SEARCH = 100  # HNSW candidate list; >= CANDIDATES, or the index returns fewer rows
RRF_K = 60  # kept for callers of the old fusion; the score below replaced RRF
# How a document scores (bench/search/relevance.py measured these on 114 learner questions;
# README there): the cosine similarity of its best passage, plus WEIGHT_CARD times that of its
# card (title + one-line summary, ``SearchCard``), plus a full-text term that is largest for
# the document that best matches the query's words (any of them, ts_rank_cd), decaying with
# its rank like RRF's (TERMS_K), plus a small prior by kind: a learner's question is better
# answered by an explanation than by an interview question or a link elsewhere. Plain RRF of
# the retrievers found 0.79-0.83 of the questions' answers in the top 3; this 0.90.
WEIGHT_PASSAGE = 1.0
WEIGHT_CARD = 0.7
WEIGHT_TERMS = 0.1
TERMS_K = 60
KIND_PRIOR = {"question": -0.04, "resource": -0.04}
# The card lets a document whose passages are worded unlike the question still be found: it
# counts as found by meaning when its passage similarity + WEIGHT_CARD x card similarity
# reaches this, even with the passage alone under VECTOR_MIN_SIMILARITY. Measured on the
# shipped content: the nonsense and off-topic queries above reach at most 0.531, 150 random
# letter strings at most 0.638 but none of those whose passage is under the floor reaches
# 0.55; of the 11 relevance questions whose answer's best passage is under the floor, 5 reach 0.58.
MEANING_MIN_SCORE = 0.58
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
    placed in each (1 = first; None = not found). ``score`` is the fused score (higher is better).
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
    chunk_id: int | None = None  # the passage (``SearchChunk``) the snippet comes from


def normalize_query(query: str | None) -> str:
    """Collapse whitespace, drop control characters, cut to MAX_QUERY_CHARS at a word."""
    text = " ".join(clean_text(query or "").split())
    if len(text) > MAX_QUERY_CHARS:
        cut = text[:MAX_QUERY_CHARS]
        text = cut.rsplit(" ", 1)[0] if " " in cut[MAX_QUERY_CHARS // 2 :] else cut
    return text


# Replaced whenever the index is written: search results are cached per (index generation,
# normalized query, kinds, limit), so a query a class types again costs one cache read.
SEARCH_INDEX = Generation("search-index-generation")
RESULTS_TTL = 60 * 60  # seconds


def search(query: str, *, kinds: list[str] | None = None, limit: int = 20) -> list[SearchHit]:
    """Documents matching ``query`` best first, one hit per (kind, key).

    An empty (or punctuation-only) query returns ``[]``. Very long input is cut; query
    syntax characters are safe (``websearch_to_tsquery`` never raises on user input).
    ``kinds`` limits the result to those kinds. If the embedding model cannot load, the
    search degrades to full text only instead of failing (and that answer is not cached).
    """
    text = normalize_query(query)
    # The relevance floor is a setting: an answer found under another floor is another answer.
    floor = vector_min_similarity()
    parts = f"{SEARCH_INDEX.current()}|{floor}|{text}|{','.join(sorted(set(kinds or [])))}|{limit}"
    key = "search:results:" + hashlib.blake2b(parts.encode(), digest_size=16).hexdigest()
    hits = cache.get(key)
    if hits is None:
        hits = search_hits(query, kinds=kinds, limit=limit)
        # A full-text-only answer (the model failed to load) is not kept: the next search
        # should find by meaning again. The query's embedding is memoized: no second run.
        if not _WORD.search(text) or _query_embedding(text) is not None:
            cache.set(key, hits, RESULTS_TTL)
    return hits


def search_hits(
    query: str,
    *,
    kinds: list[str] | None = None,
    limit: int = 20,
    retrievers: tuple[str, ...] = (FULLTEXT, VECTOR),
) -> list[SearchHit]:
    """:func:`search` with a choice of ``retrievers`` (the relevance bench measures each alone)."""
    text = normalize_query(query)
    if not _WORD.search(text):
        return []
    limit = max(1, min(int(limit), MAX_LIMIT))
    kinds = sorted(set(kinds)) if kinds else None
    embedding = _query_embedding(text) if VECTOR in retrievers else None
    sql, params = hybrid_sql(text, embedding, kinds=kinds, limit=limit, fulltext=FULLTEXT in retrievers)
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL: scoped to this transaction, so a pooled connection is not left changed.
        cursor.execute(hnsw_settings_sql(filtered=bool(kinds and embedding)))
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    hits = []
    for row in rows:
        kind, key, title, url, summary, score, fts_rank, vec_rank, headline, title_headline, text_start, chunk_id = row
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
                fulltext_rank=fts_rank, vector_rank=vec_rank, chunk_id=chunk_id,
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
    text: str, embedding: list[float] | None, *, kinds: list[str] | None, limit: int, fulltext: bool = True
) -> tuple[str, dict]:
    """The single statement behind :func:`search` (exposed for EXPLAIN in tests and the bench).

    ``embedding=None`` leaves the vector side empty, ``fulltext=False`` the full-text side.
    """
    kind_filter = "AND c.kind = ANY(%(kinds)s)" if kinds else ""
    fts_filter = kind_filter if fulltext else "AND false"
    # Immutable on a constant: folded at plan time, so the GIN index can use it.
    and_query = "websearch_to_tsquery('english', %(q)s)"
    # Only the constant fragments above are interpolated; every value is a bound parameter.
    if embedding is not None:
        vector_ctes = f"""
    vec_docs AS (
        SELECT DISTINCT kind, key FROM (
            SELECT c.kind, c.key FROM core_searchchunk c
            WHERE true {kind_filter}
            ORDER BY c.embedding <=> %(embedding)s::vector
            LIMIT %(candidates)s
        ) nearest
    ),
    card_docs AS (
        SELECT c.kind, c.key FROM core_searchcard c
        WHERE true {kind_filter}
        ORDER BY c.embedding <=> %(embedding)s::vector
        LIMIT %(candidates)s
    ),"""  # noqa: S608
        # The exact best passage of every candidate (a handful of rows each, by the unique index).
        vector_join = """
        LEFT JOIN LATERAL (
            SELECT c.id, 1 - (c.embedding <=> %(embedding)s::vector) AS similarity
            FROM core_searchchunk c WHERE c.kind = d.kind AND c.key = d.key
            ORDER BY c.embedding <=> %(embedding)s::vector, c.id LIMIT 1
        ) v ON true
        LEFT JOIN core_searchcard card ON card.kind = d.kind AND card.key = d.key"""
        card_similarity = "(1 - (card.embedding <=> %(embedding)s::vector))"
        vector_union = "UNION SELECT kind, key FROM vec_docs UNION SELECT kind, key FROM card_docs"
    else:
        vector_ctes = ""
        vector_join = """
        LEFT JOIN LATERAL (SELECT NULL::bigint AS id, NULL::float AS similarity) v ON true"""
        card_similarity = "NULL::float"
        vector_union = ""
    sql = f"""
    WITH
    -- Any word of the query (OR), each stem quoted for to_tsquery (chr(39) = quote, chr(92) =
    -- backslash, both doubled); 'simple' keeps the english stems as they are. It ranks the
    -- full-text side and highlights the snippets; matching every word (websearch syntax,
    -- AND) is what makes a document a full-text hit.
    terms AS (
        SELECT to_tsquery('simple', coalesce(string_agg(
                   chr(39) || replace(replace(lexeme, chr(92), chr(92) || chr(92)), chr(39), chr(39) || chr(39))
                   || chr(39), ' | '), '')) AS q
        FROM unnest(tsvector_to_array(to_tsvector('english', %(q)s))) AS lexeme
    ),
    fts_matches AS (
        -- Ranking reads every matching tsvector; a word found in most chunks would make the
        -- whole statement pay for it (see bench/search). Rank at most a window of matches.
        SELECT c.id, c.kind, c.key, c.search_vector
        FROM core_searchchunk c
        WHERE c.search_vector @@ (SELECT q FROM terms) {fts_filter}
        LIMIT %(fts_window)s
    ),
    fts_chunks AS (
        SELECT id, kind, key, ts_rank_cd(search_vector, (SELECT q FROM terms)) AS rank_score,
               search_vector @@ {and_query} AS every_word
        FROM fts_matches
        ORDER BY rank_score DESC, id
        LIMIT %(candidates)s
    ),
    fts AS (
        SELECT kind, key, (array_agg(id ORDER BY every_word DESC, rank_score DESC, id))[1] AS chunk_id,
               bool_or(every_word) AS every_word,
               row_number() OVER (ORDER BY max(rank_score) DESC, min(id)) AS rnk
        FROM fts_chunks
        GROUP BY kind, key
    ),{vector_ctes}
    candidates AS (
        SELECT kind, key FROM fts {vector_union}
    ),
    scored AS (
        SELECT d.kind, d.key, f.rnk AS terms_rank, coalesce(f.every_word, false) AS every_word,
               f.chunk_id AS fts_chunk_id, v.id AS vec_chunk_id, v.similarity,
               coalesce(%(w_passage)s * v.similarity, 0) + coalesce(%(w_card)s * {card_similarity}, 0) AS meaning,
               coalesce(%(w_terms)s * (%(terms_k)s + 1.0) / (%(terms_k)s + f.rnk), 0)
               + coalesce((%(kind_prior)s::jsonb ->> d.kind)::float, 0) AS bonus
        FROM candidates d
        LEFT JOIN fts f ON f.kind = d.kind AND f.key = d.key{vector_join}
    ),
    judged AS (
        SELECT *, meaning + bonus AS score,
               coalesce(similarity >= %(min_similarity)s OR meaning >= %(min_meaning)s, false) AS by_meaning
        FROM scored
    ),
    kept AS (
        -- A document is a hit when it contains every word of the query, or when it is close
        -- enough in meaning (its best passage, or passage and card together, above a floor);
        -- the other candidates were only ranked.
        SELECT *,
               CASE WHEN every_word THEN row_number() OVER (
                   PARTITION BY every_word ORDER BY terms_rank) END AS fts_rank,
               CASE WHEN by_meaning THEN row_number() OVER (
                   PARTITION BY by_meaning ORDER BY meaning DESC, key) END AS vec_rank
        FROM judged
        WHERE every_word OR by_meaning
    ),
    fused AS (
        SELECT kind, key, score, fts_rank, vec_rank,
               -- a passage with every word of the query makes the better snippet
               CASE WHEN every_word THEN coalesce(fts_chunk_id, vec_chunk_id)
                    ELSE coalesce(vec_chunk_id, fts_chunk_id) END AS chunk_id
        FROM kept
        ORDER BY score DESC, least(fts_rank, vec_rank), key
        LIMIT %(limit)s
    )
    SELECT fu.kind, fu.key, c.title, c.url, c.summary, fu.score, fu.fts_rank, fu.vec_rank,
           ts_headline('english', c.text, terms.q, %(headline_options)s),
           ts_headline('english', c.title, terms.q, %(title_options)s),
           left(c.text, %(snippet_chars)s), fu.chunk_id
    FROM fused fu JOIN core_searchchunk c ON c.id = fu.chunk_id CROSS JOIN terms
    ORDER BY fu.score DESC, least(fu.fts_rank, fu.vec_rank), fu.key
    """  # noqa: S608
    params = {
        "q": text, "kinds": kinds, "candidates": CANDIDATES, "limit": limit,
        "fts_window": FTS_RANK_WINDOW, "min_similarity": vector_min_similarity(), "min_meaning": MEANING_MIN_SCORE,
        "w_passage": WEIGHT_PASSAGE, "w_card": WEIGHT_CARD, "w_terms": WEIGHT_TERMS, "terms_k": TERMS_K,
        "kind_prior": json.dumps(KIND_PRIOR),
        "headline_options": _HEADLINE_OPTIONS, "title_options": _TITLE_OPTIONS, "snippet_chars": SNIPPET_CHARS + 1,
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
