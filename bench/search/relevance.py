"""Search relevance: recall@3 and MRR of plain-language learner questions, and latency.

    make run                                   # in another terminal (this bench reads its database)
    .venv/bin/python bench/search/relevance.py [--repeat 3] [--baseline 1ee5dcd]

Reads ``bench/search/relevance.yaml`` (questions written as a learner would ask them, each
with the items that answer it) and runs every question in-process against the running
stack's database (``.data/run/stack.json``: the shipped content, loaded and indexed), three
ways for each of two versions of the search code:

* **baseline**: ``apps/core/search/selectors.py`` as it was at ``--baseline`` (read from git
  and loaded as a module), i.e. before the relevance work;
* **current**: the working tree's ``apps.core.search.selectors``;

each as full text alone, vector alone and hybrid. A question is *found* when one of its
expected items is in the top 3 documents (recall@3); MRR is the mean of 1/rank of the
first expected item (0 past rank 20).

Latency: the two hybrid versions run side by side for every question (alternating which goes
first), ``--repeat`` times, with the query-embedding caches emptied before each call (a
dummy Django cache and a cleared LRU), so each timing is a first search: embed + SQL + hits.

Writes bench/search/relevance-results.json. Nothing is written to the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
RELEVANCE_SET = HERE / "relevance.yaml"
BASELINE = "1ee5dcd"  # the selectors before the relevance work (issue #9)
TOP = 3
DEPTH = 20  # MRR counts ranks up to here


def load_set(path: Path = RELEVANCE_SET) -> list[dict]:
    """The questions, each ``{"q", "expect": [(kind, key), ...], "phase"}``."""
    items = yaml.safe_load(path.read_text())
    out = []
    for item in items:
        expect = [tuple(str(e).split(":", 1)) for e in item["expect"]]
        out.append({"q": item["q"], "expect": expect, "phase": str(item.get("phase", ""))})
    return out


def score(ranked: list[tuple[str, str]], expect: list[tuple[str, str]]) -> tuple[bool, float, int | None]:
    """(found in the top 3, reciprocal rank, rank) of the first expected item in ``ranked``."""
    wanted = set(expect)
    for rank, item in enumerate(ranked[:DEPTH], start=1):
        if item in wanted:
            return rank <= TOP, 1.0 / rank, rank
    return False, 0.0, None


def evaluate(rank_fn, questions: list[dict]) -> dict:
    found, rr, misses = 0, 0.0, []
    for question in questions:
        ranked = rank_fn(question["q"])
        hit, reciprocal, rank = score(ranked, question["expect"])
        found += hit
        rr += reciprocal
        if not hit:
            misses.append({"q": question["q"], "rank": rank, "top3": [f"{k}:{v}" for k, v in ranked[:TOP]]})
    n = len(questions)
    return {"recall@3": round(found / n, 3), "mrr": round(rr / n, 3), "found": found, "n": n, "misses": misses}


def setup() -> None:
    record = ROOT / ".data" / "run" / "stack.json"
    try:
        running = json.loads(record.read_text())
    except OSError:
        raise SystemExit("start the platform first (`make run`): this bench reads its database") from None
    for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY_FILE"):
        os.environ.setdefault(name, running[name])
    os.environ.setdefault("PLATFORM_DATA_DIR", str(ROOT / ".data"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django
    from django.conf import settings

    django.setup()
    # Every timing is a first search: no shared embedding cache (the LRU is cleared per call).
    settings.CACHES["default"] = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    from django.core.cache import caches

    caches._settings = caches.settings = settings.CACHES  # type: ignore[attr-defined]
    for alias in list(caches):
        try:
            delattr(caches._connections, alias)  # type: ignore[attr-defined]
        except AttributeError:
            pass


def load_baseline(revision: str):
    """``apps/core/search/selectors.py`` at ``revision``, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:apps/core/search/selectors.py"], cwd=ROOT, check=True,
        capture_output=True, text=True,
    ).stdout
    path = Path("/tmp") / f"relevance_baseline_selectors_{os.getpid()}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("relevance_baseline_selectors", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    path.unlink()
    return module


def baseline_rankers(module) -> dict:
    """Full text alone, vector alone and hybrid as the baseline ranked them."""
    from django.db import connection, transaction

    def run(text: str, embedding) -> list[tuple[str, str]]:
        sql, params = module.hybrid_sql(text, embedding, kinds=None, limit=module.MAX_LIMIT)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(module.hnsw_settings_sql(filtered=False))
            cursor.execute(sql, params)
            return [(row[0], row[1]) for row in cursor.fetchall()]

    def fulltext(query: str) -> list[tuple[str, str]]:
        return run(module.normalize_query(query), None)  # no embedding: the vector side is empty

    def vector(query: str) -> list[tuple[str, str]]:
        from apps.core.embeddings import embed_query

        text = module.normalize_query(query)
        # Vector side alone: the nearest chunks above the floor, one per document.
        sql = """
            SELECT kind, key FROM (
                SELECT DISTINCT ON (kind, key) kind, key, embedding <=> %(e)s::vector AS d
                FROM (SELECT kind, key, embedding FROM core_searchchunk
                      ORDER BY embedding <=> %(e)s::vector LIMIT %(n)s) nearest
                ORDER BY kind, key, d
            ) docs WHERE d <= %(max)s ORDER BY d
        """
        from pgvector import Vector

        embedding = Vector._to_db(embed_query(text).tolist())
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(module.hnsw_settings_sql(filtered=False))
            cursor.execute(sql, {"e": embedding, "n": module.CANDIDATES, "max": 1.0 - module.vector_min_similarity()})
            return list(cursor.fetchall())

    def hybrid(query: str) -> list[tuple[str, str]]:
        return [(h.kind, h.key) for h in module.search(query, limit=module.MAX_LIMIT)]

    return {"fulltext": fulltext, "vector": vector, "hybrid": hybrid}


def current_rankers() -> dict:
    from apps.core.search import selectors

    def make(retrievers):
        def rank(query: str) -> list[tuple[str, str]]:
            hits = selectors.search_hits(query, limit=selectors.MAX_LIMIT, retrievers=retrievers)
            return [(h.kind, h.key) for h in hits]

        return rank

    return {
        "fulltext": make((selectors.FULLTEXT,)),
        "vector": make((selectors.VECTOR,)),
        "hybrid": make((selectors.FULLTEXT, selectors.VECTOR)),
    }


def timings(search_fns: dict, questions: list[dict], repeat: int) -> dict:
    from apps.core.embeddings import _embed_query_cached

    samples: dict[str, list[float]] = {name: [] for name in search_fns}
    names = list(search_fns)
    for round_no in range(repeat):
        for i, question in enumerate(questions):
            order = names if (i + round_no) % 2 == 0 else names[::-1]
            for name in order:
                _embed_query_cached.cache_clear()
                started = time.perf_counter()
                search_fns[name](question["q"])
                samples[name].append((time.perf_counter() - started) * 1000)
    out = {}
    for name, values in samples.items():
        ordered = sorted(values)
        out[name] = {
            "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
            "n": len(ordered),
        }
    return out


def by_phase(rank_fn, questions: list[dict]) -> dict:
    phases: dict[str, list[dict]] = {}
    for question in questions:
        phases.setdefault(question["phase"], []).append(question)
    return {phase: evaluate(rank_fn, qs)["recall@3"] for phase, qs in sorted(phases.items())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="latency rounds over the whole set")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the baseline selectors")
    parser.add_argument("--out", default=str(HERE / "relevance-results.json"))
    args = parser.parse_args()
    setup()
    from apps.core.embeddings import warm_up
    from apps.core.search.models import SearchChunk

    warm_up()
    questions = load_set()
    versions = {"baseline": baseline_rankers(load_baseline(args.baseline)), "current": current_rankers()}
    results: dict = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "baseline_revision": args.baseline,
        "questions": len(questions),
        "index": {
            "chunks": SearchChunk.objects.count(),
            "documents": SearchChunk.objects.values("kind", "key").distinct().count(),
        },
        "relevance": {},
    }
    for version, rankers in versions.items():
        results["relevance"][version] = {}
        for mode, rank_fn in rankers.items():
            results["relevance"][version][mode] = evaluate(rank_fn, questions)
            summary = results["relevance"][version][mode]
            print(
                f"{version:9} {mode:9} recall@3 {summary['recall@3']:.3f}  MRR {summary['mrr']:.3f}  "
                f"({summary['found']}/{summary['n']})"
            )
        results["relevance"][version]["hybrid_by_phase"] = by_phase(rankers["hybrid"], questions)
    latency = timings({v: r["hybrid"] for v, r in versions.items()}, questions, args.repeat)
    latency["p95_ratio_current_vs_baseline"] = round(latency["current"]["p95_ms"] / latency["baseline"]["p95_ms"], 2)
    latency["p50_ratio_current_vs_baseline"] = round(latency["current"]["p50_ms"] / latency["baseline"]["p50_ms"], 2)
    results["latency"] = latency
    print(json.dumps(latency, indent=1))
    for miss in results["relevance"]["current"]["hybrid"]["misses"]:
        print("  miss:", miss["q"], "->", miss["rank"], miss["top3"])
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
