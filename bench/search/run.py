"""Search benchmark: hybrid (FTS + HNSW + RRF) vs each retriever alone, and HNSW recall.

    .venv/bin/python bench/search/run.py [--chunks 100000] [--queries 200]

Builds a synthetic corpus of chunks (texts drawn from a vocabulary of ML words with a
Zipf-like frequency, clustered random 384-d unit vectors), loads it with COPY ... FORMAT
BINARY, builds the same GIN and HNSW indexes the app declares, then runs each query three
ways side by side (interleaved, so drift hits all equally):

* hybrid   - the app's real statement (``apps.core.search.selectors.hybrid_sql``)
* vector   - raw pgvector top-10: ORDER BY embedding <=> q LIMIT 10 (HNSW)
* fulltext - raw full text top-10: websearch_to_tsquery + ts_rank_cd

and measures recall@10 of the HNSW path against exact search (same query, index scans
off). A subset of queries is embedded with the real MiniLM model and run end to end
through ``search()``. Runs on its own embedded PostgreSQL in a temp dir, or on a fresh
database created on the server of ``DATABASE_URL`` when that is set (dropped after).
Writes bench/search/results.json. Not part of the test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

VOCAB = """
transformer attention token embedding gradient descent loss optimizer adam learning rate warmup schedule batch
layer normalization residual dropout softmax logits temperature sampling beam search greedy decoding
perplexity entropy cross tokenizer vocabulary subword byte pair encoding positional rotary sinusoidal
encoder decoder causal mask self multi head query key value cache prefix prompt instruction tuning
fine adapter lora rank low quantization int8 int4 gptq awq distillation pruning sparse mixture experts
router gating retrieval augmented generation rag chunk index vector database similarity cosine dot product
hnsw faiss bm25 hybrid rerank cross encoder bi evaluation benchmark accuracy precision recall f1 bleu rouge
hallucination grounding citation context window long short memory agent tool calling function planner
reflection chain thought reasoning math code python pytorch tensor gpu cuda kernel flash throughput latency
inference serving vllm paged batching continuous speculative draft model weights checkpoint shard parallel
data pipeline dataset cleaning deduplication filtering synthetic labeling annotation preference reward rlhf
dpo ppo policy value critic alignment safety red teaming jailbreak guardrail moderation toxicity bias
fairness privacy differential federated diffusion unet noise denoising latent vae autoencoder gan generator
discriminator clip contrastive image text multimodal vision patch convolution pooling recurrent lstm gru
bert gpt t5 llama mistral encoder-only decoder-only scaling laws compute optimal chinchilla emergent
curriculum overfitting underfitting regularization weight decay early stopping validation test split
feature engineering tfidf bag words naive bayes logistic regression classifier spam email precision
deployment docker kubernetes monitoring drift observability logging tracing cost budget quota api rate
limit streaming websocket frontend backend database postgres redis queue worker celery job sandbox
interview system design behavioral portfolio career salary role engineer researcher scientist product
""".split()
KINDS = ["article"] * 6 + ["glossary", "resource", "topic", "question"]
DIM = 384


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def make_corpus(n: int, rng: np.random.Generator):
    """Texts with Zipf-like word frequencies; vectors clustered the way real embeddings are."""
    weights = 1.0 / np.arange(1, len(VOCAB) + 1) ** 1.07
    weights /= weights.sum()
    words = np.array(VOCAB)
    lengths = rng.integers(60, 110, size=n)
    draws = rng.choice(len(VOCAB), size=int(lengths.sum()), p=weights)
    texts, start = [], 0
    for length in lengths:
        chunk = words[draws[start : start + length]]
        start += length
        # Sentences of ~12 words, so ts_headline and the parser see ordinary prose.
        texts.append(". ".join(" ".join(chunk[i : i + 12]) for i in range(0, len(chunk), 12)).capitalize() + ".")
    centers = rng.standard_normal((max(50, n // 200), DIM)).astype(np.float32)
    assignment = rng.integers(0, len(centers), size=n)
    vectors = centers[assignment] + 0.9 * rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors, weights


def make_queries(n: int, rng: np.random.Generator, vectors: np.ndarray, weights: np.ndarray):
    """1-3 word keyword queries (as people type them) and vectors near random corpus points.

    Query words follow a flattened version of the corpus frequencies: people search for
    common words ("model", "attention") more than rare ones, but not as often as they occur.
    """
    query_weights = np.sqrt(weights)
    query_weights /= query_weights.sum()
    queries = []
    for _ in range(n):
        k = int(rng.choice([1, 2, 2, 3]))
        picks = rng.choice(len(VOCAB), size=k, replace=False, p=query_weights)
        text = " ".join(VOCAB[i] for i in picks)
        # A corpus point plus noise of norm ~0.5: near it, not on it.
        q = vectors[rng.integers(0, len(vectors))] + rng.standard_normal(DIM).astype(np.float32) * (0.5 / np.sqrt(DIM))
        queries.append((text, (q / np.linalg.norm(q)).astype(np.float32)))
    return queries


def start_database(tmp: Path) -> tuple[str, callable]:
    """A database URL just for the bench, and how to clean it up."""
    from config.embedded import EmbeddedPostgres

    if os.environ.get("DATABASE_URL"):
        import psycopg

        server = os.environ["DATABASE_URL"]
        name = f"search_bench_{os.getpid()}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return urlunparse(urlparse(server)._replace(path="/" + name)), drop
    postgres = EmbeddedPostgres(tmp / "postgres")
    postgres.start()
    url = postgres.create_database("search_bench")

    def stop() -> None:
        from django.db import connections

        connections.close_all()
        postgres.stop()

    return url, stop


def load(texts: list[str], vectors: np.ndarray) -> dict:
    """Create the table from the model, COPY the rows in (binary), then build the indexes."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    from apps.core.search.models import SearchCard, SearchChunk

    timings = {}
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    with connection.schema_editor() as editor:
        editor.create_model(SearchChunk)
        editor.create_model(SearchCard)
        # Building an index once over loaded rows is far cheaper than growing it row by row.
        for index in SearchChunk._meta.indexes:
            editor.remove_index(SearchChunk, index)
    raw = connection.connection
    register_vector(raw)
    columns = ["kind", "key", "chunk_no", "title", "url", "text", "summary", "embedding", "content_hash", "updated_at"]
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY core_searchchunk ({', '.join(columns)}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["varchar", "varchar", "int4", "varchar", "varchar", "text", "text", "vector", "varchar",
                            "timestamptz"])
            for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
                doc = i // 5
                kind = KINDS[doc % len(KINDS)]
                title = " ".join(text.split()[:5]).rstrip(".").title()
                copy.write_row((kind, f"doc-{doc}", i % 5, title, f"/{kind}/doc-{doc}/", text, "", vector, "x" * 64,
                                now))
    raw.commit()
    timings["copy_binary_s"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
    for index in SearchChunk._meta.indexes:
        started = time.perf_counter()
        with connection.schema_editor() as editor:
            editor.add_index(SearchChunk, index)
        timings[f"index_{index.name}_s"] = time.perf_counter() - started
    # One card per document (the hybrid statement reads them): its first chunk's vector.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_searchcard (kind, key, embedding, content_hash) SELECT DISTINCT ON (kind, key) "
            "kind, key, embedding, '' FROM core_searchchunk ORDER BY kind, key, chunk_no"
        )
    with connection.schema_editor() as editor:
        for index in SearchCard._meta.indexes:
            editor.remove_index(SearchCard, index)
            editor.add_index(SearchCard, index)
    timings["cards_s"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE core_searchcard")
        cursor.execute("VACUUM ANALYZE core_searchchunk")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('core_searchchunk'))")
        timings["table_size"] = cursor.fetchone()[0]
    return timings


VECTOR_SQL = "SELECT id FROM core_searchchunk {where} ORDER BY embedding <=> %s::vector LIMIT 10"
FULLTEXT_SQL = (
    "SELECT id FROM core_searchchunk WHERE search_vector @@ websearch_to_tsquery('english', %s) "
    "ORDER BY ts_rank_cd(search_vector, websearch_to_tsquery('english', %s)) DESC LIMIT 10"
)


def timed(cursor, sql: str, params, setup: list[str] = ()) -> tuple[float, list]:
    """One statement in its own transaction (SET LOCAL scoped to it); seconds and rows."""
    cursor.execute("BEGIN")
    for statement in setup:
        cursor.execute(statement)
    started = time.perf_counter()
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    elapsed = time.perf_counter() - started
    cursor.execute("COMMIT")
    return elapsed, rows


def run_queries(queries, *, kinds=None) -> dict:
    from django.db import connection
    from pgvector import Vector

    from apps.core.search.selectors import hnsw_settings_sql, hybrid_sql

    results = {"hybrid": [], "vector": [], "fulltext": [], "exact": [], "vector_ef40": []}
    recall, recall40, fts_rows = [], [], []
    hnsw = hnsw_settings_sql(filtered=bool(kinds))  # exactly what search() sets
    where = "WHERE kind = ANY(%s)" if kinds else ""
    vector_sql = VECTOR_SQL.format(where=where)
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")  # JIT compiles per statement: noise for sub-100 ms queries
        for i, (text, vector) in enumerate(queries):
            vector_args = ([kinds] if kinds else []) + [Vector._to_db(vector)]
            sql, params = hybrid_sql(text, vector.tolist(), kinds=kinds, limit=20)
            order = [("hybrid", sql, params, [hnsw]), ("vector", vector_sql, vector_args, [hnsw]),
                     ("fulltext", FULLTEXT_SQL, [text, text], [])]
            order = order[i % 3 :] + order[: i % 3]  # rotate: no retriever always runs on a warm cache
            rows = {}
            for name, statement, args, setup in order:
                elapsed, rows[name] = timed(cursor, statement, args, setup)
                results[name].append(elapsed)
            elapsed, approx40 = timed(
                cursor, vector_sql, vector_args, [hnsw, "SELECT set_config('hnsw.ef_search', '40', true)"]
            )
            results["vector_ef40"].append(elapsed)
            # Exact: the same query with index scans off (a sequential scan and a full sort).
            # Last, because its scan of the whole table pushes index pages out of shared buffers.
            elapsed, exact = timed(cursor, vector_sql, vector_args, ["SET LOCAL enable_indexscan = off"])
            results["exact"].append(elapsed)
            truth = {r[0] for r in exact}
            recall.append(len(truth & {r[0] for r in rows["vector"]}) / len(truth))
            recall40.append(len(truth & {r[0] for r in approx40}) / len(truth))
            cursor.execute(
                "SELECT count(*) FROM core_searchchunk WHERE search_vector @@ websearch_to_tsquery('english', %s)",
                [text],
            )
            fts_rows.append(cursor.fetchone()[0])
    summary = {
        name: {"p50_ms": percentile(v, 50) * 1000, "p95_ms": percentile(v, 95) * 1000,
               "mean_ms": statistics.mean(v) * 1000}
        for name, v in results.items()
    }
    summary["recall_at_10"] = {"ef_search_100": statistics.mean(recall), "ef_search_40": statistics.mean(recall40)}
    summary["fulltext_matching_rows"] = {"median": statistics.median(fts_rows), "max": max(fts_rows)}
    return summary


def check_plan(queries) -> dict:
    """Does the planner choose the HNSW and GIN indexes by itself at this size?"""
    from django.db import connection

    from apps.core.search.selectors import hybrid_sql

    text, vector = queries[0]
    sql, params = hybrid_sql(text, vector.tolist(), kinds=None, limit=20)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
    return {"uses_hnsw": "core_searchchunk_emb_hnsw" in plan, "uses_gin": "core_searchchunk_fts_gin" in plan}


def end_to_end(n: int, rng: np.random.Generator) -> dict:
    """Real MiniLM query embeddings + the real search() (the corpus vectors are synthetic)."""
    from apps.core import embeddings
    from apps.core.search.selectors import search

    embeddings.warm_up()
    phrases = [
        "how do transformers know word order", "cheap way to adapt a big model", "evaluate a rag pipeline",
        "why does my model overfit", "speed up inference on a gpu", "what is a kv cache",
        "preference tuning without a reward model", "compare bm25 and dense retrieval",
    ]
    embed, total = [], []
    for i in range(n):
        query = f"{phrases[i % len(phrases)]} {VOCAB[int(rng.integers(len(VOCAB)))]}"
        embeddings._embed_query_cached.cache_clear()
        started = time.perf_counter()
        embeddings.embed_query(query)
        embed.append(time.perf_counter() - started)
        embeddings._embed_query_cached.cache_clear()
        started = time.perf_counter()
        search(query)
        total.append(time.perf_counter() - started)
    return {
        "queries": n,
        "embed_query_p50_ms": percentile(embed, 50) * 1000, "embed_query_p95_ms": percentile(embed, 95) * 1000,
        "search_p50_ms": percentile(total, 50) * 1000, "search_p95_ms": percentile(total, 95) * 1000,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--real-queries", type=int, default=30, help="queries embedded with the real MiniLM")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "search" / "results.json")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="search-bench-"))
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp / "run"))
    os.environ["PLATFORM_DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # settings want one; the bench never connects
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    wall = time.perf_counter()
    load_before = os.getloadavg()
    database = "DATABASE_URL (a fresh database, dropped after)" if os.environ.get("DATABASE_URL") else (
        "embedded PostgreSQL 18 + pgvector 0.8 (config.embedded, temp dir)"
    )
    url, cleanup = start_database(tmp)
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    try:
        print(f"corpus: {args.chunks:,} chunks ...", flush=True)
        started = time.perf_counter()
        texts, vectors, weights = make_corpus(args.chunks, rng)
        generate_s = time.perf_counter() - started
        load_timings = load(texts, vectors)
        load_timings["generate_s"] = generate_s
        print("  " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in load_timings.items()))
        queries = make_queries(args.queries, rng, vectors, weights)
        run_queries(queries[:10])  # warm the caches and the plans
        print(f"{args.queries} queries, interleaved ...", flush=True)
        summary = run_queries(queries)
        filtered = run_queries(queries[: max(20, args.queries // 4)], kinds=["glossary"])
        plan = check_plan(queries)
        e2e = end_to_end(args.real_queries, rng)
    finally:
        cleanup()
    hybrid = summary["hybrid"]
    rows = [
        ("hybrid (FTS + HNSW + RRF, 1 statement)", hybrid),
        ("vector top-10 (HNSW, ef_search=100)", summary["vector"]),
        ("vector top-10 (HNSW, ef_search=40)", summary["vector_ef40"]),
        ("full text top-10 (GIN + ts_rank_cd)", summary["fulltext"]),
        ("exact vector top-10 (no index)", summary["exact"]),
        ("hybrid, kinds=['glossary'] (iterative scan)", filtered["hybrid"]),
        ("vector top-10, kinds=['glossary']", filtered["vector"]),
    ]
    print(f"\n{'query':<46} {'p50 ms':>8} {'p95 ms':>8} {'p50 vs hybrid':>14}")
    for name, stats in rows:
        ratio = stats["p50_ms"] / hybrid["p50_ms"]
        print(f"{name:<46} {stats['p50_ms']:>8.2f} {stats['p95_ms']:>8.2f} {ratio:>13.2f}x")
    print(f"\nrecall@10 HNSW vs exact: ef_search=100 {summary['recall_at_10']['ef_search_100']:.3f}, "
          f"ef_search=40 {summary['recall_at_10']['ef_search_40']:.3f}; filtered to glossary (10% of rows, "
          f"iterative scan): {filtered['recall_at_10']['ef_search_100']:.3f}")
    print(f"full-text matching rows per query: median {summary['fulltext_matching_rows']['median']}, "
          f"max {summary['fulltext_matching_rows']['max']}")
    print(f"planner picks HNSW: {plan['uses_hnsw']}, GIN: {plan['uses_gin']}")
    print(f"real MiniLM: embed_query p50 {e2e['embed_query_p50_ms']:.1f} ms; search() end to end "
          f"p50 {e2e['search_p50_ms']:.1f} ms, p95 {e2e['search_p95_ms']:.1f} ms")
    result = {
        "date": dt.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_name(), "python": platform.python_version(),
                    # Other work on the machine skews absolute times; the side-by-side ratios less so.
                    "loadavg_1m_before": load_before[0], "loadavg_1m_after": os.getloadavg()[0]},
        "database": database,
        "chunks": args.chunks, "queries": args.queries, "load": load_timings, "summary": summary,
        "filtered_glossary": filtered, "plan": plan, "end_to_end": e2e,
        "ratios_p50": {name: stats["p50_ms"] / hybrid["p50_ms"] for name, stats in rows},
        "wall_s": time.perf_counter() - wall,
    }
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out} in {result['wall_s']:.0f}s")


if __name__ == "__main__":
    main()
