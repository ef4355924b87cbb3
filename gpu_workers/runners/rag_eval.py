"""The RAG evaluation lab: chunk, embed, retrieve, then score the retrieval with RAGAS.

Inputs (resolved by the worker from the model/dataset registry, read-only under /models):

- ``params["dataset"]["path"]``: a ``rag-corpus`` dataset directory holding ``docs.jsonl``
  (one object per line: ``id``, ``title``, ``text``) and ``questions.jsonl`` (``question``,
  ``reference`` (the reference answer), ``reference_contexts`` (list of passages that answer
  it)). ``meta["files"]`` may name other file names: ``{"docs": ..., "questions": ...}``.
- ``params["embedder"]["path"]``: a sentence-transformers model directory (MiniLM).

params: ``splitter`` ("characters", "sentences", "paragraphs"), ``chunk_size`` (characters,
default 500), ``chunk_overlap`` (0), ``retriever`` ("dense", "bm25", "hybrid": reciprocal
rank fusion of the two), ``top_k`` (5), ``max_questions`` (0 = all), ``seed``, ``device``
("auto"), ``threads`` (1), and ``llm`` (set by the worker, never by the learner: a provider
for the LLM-judged metrics; absent = they are not run, and this version does not call one
even when given: the result says which).

Scores: RAGAS' non-LLM ``NonLLMContextPrecisionWithReference`` and ``NonLLMContextRecall``,
which match retrieved chunks to the reference contexts by string similarity (1 - normalised
Levenshtein distance, threshold 0.5), so they run offline with no model at all.
Faithfulness and answer relevancy need an LLM to answer and to judge; without a configured
provider the result says so instead of inventing a number.

Emits progress, ``context_precision``/``context_recall`` as running means over the questions
scored so far (step = question number), the artifact ``per_question.json`` (question,
retrieved chunk ids, scores, and the text of every retrieved chunk) and a result with the
averages, the first rows of the table, library versions, device, engine, runner version
and seed.
Same params + seed + hardware = same numbers (no sampling anywhere; ties break by chunk order).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from gpu_workers.runners.protocol import Emitter, check_ranges, library_versions

# RAGAS 0.4 posts usage analytics unless told not to. The sandbox has no network anyway;
# set before a warm sandbox imports ragas, and before run() does.
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

RUNNER_VERSION = "rag_eval/1"
SPLITTERS = ("characters", "sentences", "paragraphs")
RETRIEVERS = ("dense", "bm25", "hybrid")
LIMITS = {
    "chunk_size": (50, 4000),
    "chunk_overlap": (0, 2000),
    "top_k": (1, 50),
    "max_questions": (0, 2000),
    "threads": (1, 8),
}
#: Hard cap on chunks: the kind's preflight refuses earlier with an estimate; this is the backstop.
MAX_CHUNKS = 50_000
#: Reciprocal rank fusion constant (Cormack et al. 2009): damps the weight of the very top ranks.
RRF_K = 60
#: BM25 (Okapi) constants, the usual defaults.
BM25_K1, BM25_B = 1.5, 0.75
SIMILARITY_THRESHOLD = 0.5
NOT_RUN_NO_LLM = "not run: no LLM provider configured"
NOT_RUN_LLM_UNSUPPORTED = "not run: an LLM provider was given, but this runner version does not call one"
#: Rows of the per-question table copied into the result (the artifact has them all), and the
#: most bytes they may take: the worker reads an event line of at most 64 KiB.
RESULT_ROWS = 40
RESULT_ROWS_BYTES = 24_000

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PARAGRAPH = re.compile(r"\n\s*\n")
# A few very common English words carry no signal for BM25; keeping the list short keeps it honest.
_STOPWORDS = frozenset(
    "a an and are as at be by for from how in is it of on or that the this to was what when which who why "
    "with does do can you your".split()
)


class DatasetError(ValueError):
    """A dataset file is malformed: the message names the file, line and column."""


def _params(raw: dict) -> dict:
    p = {
        "splitter": str(raw.get("splitter", "paragraphs")),
        "chunk_size": int(raw.get("chunk_size", 500)),
        "chunk_overlap": int(raw.get("chunk_overlap", 0)),
        "retriever": str(raw.get("retriever", "hybrid")),
        "top_k": int(raw.get("top_k", 5)),
        "max_questions": int(raw.get("max_questions", 0)),
        "seed": int(raw.get("seed", 42)),
        "device": str(raw.get("device", "auto")),
        "threads": int(raw.get("threads", 1)),
    }
    check_ranges(p, LIMITS)
    if p["splitter"] not in SPLITTERS:
        raise ValueError(f"splitter must be one of {', '.join(SPLITTERS)}")
    if p["retriever"] not in RETRIEVERS:
        raise ValueError(f"retriever must be one of {', '.join(RETRIEVERS)}")
    if p["chunk_overlap"] >= p["chunk_size"]:
        raise ValueError("chunk_overlap must be smaller than chunk_size")
    return p


def _entry_path(raw: dict, name: str) -> tuple[Path, dict]:
    entry = raw.get(name)
    if isinstance(entry, dict) and entry.get("path"):
        return Path(entry["path"]), entry.get("meta") or {}
    if isinstance(entry, str) and entry.startswith("/"):
        return Path(entry), {}
    # Only the worker resolves registry slugs; a bare slug here means it did not.
    raise ValueError(
        f"The {name} parameter was not resolved to a registry entry (got {entry!r}); "
        "the worker passes {'path': '/models/...'} for registry parameters."
    )


# --- dataset ----------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        listing = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        raise DatasetError(f"{path.name} is missing from the dataset at {path.parent} (it holds: "
                           f"{', '.join(listing) or 'nothing'}).")
    rows = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(f"{path.name} line {number}: not UTF-8 text (byte {exc.start}).") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"{path.name} line {number}: not valid JSON ({exc.msg}, column {exc.colno})."
                ) from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path.name} line {number}: each line must be a JSON object.")
            rows.append((number, row))
    if not rows:
        raise DatasetError(f"{path.name} has no rows.")
    return rows


def _text_field(fname: str, number: int, row: dict, column: str, *, required: bool = True) -> str:
    value = row.get(column)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise DatasetError(f"{fname} line {number}, column {column!r}: expected non-empty text, got {value!r:.60}.")
    return value


def load_dataset(path: Path, meta: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Read and check ``docs.jsonl`` and ``questions.jsonl``; errors name the row and column."""
    files = (meta or {}).get("files") or {}
    docs_path = path / str(files.get("docs", "docs.jsonl"))
    questions_path = path / str(files.get("questions", "questions.jsonl"))
    docs, seen = [], set()
    for number, row in _read_jsonl(docs_path):
        doc_id = row.get("id")
        if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or str(doc_id) == "":
            raise DatasetError(f"{docs_path.name} line {number}, column 'id': expected a string or number.")
        if str(doc_id) in seen:
            raise DatasetError(f"{docs_path.name} line {number}, column 'id': {doc_id!r} is used twice.")
        seen.add(str(doc_id))
        docs.append({
            "id": str(doc_id),
            "title": _text_field(docs_path.name, number, row, "title", required=False),
            "text": _text_field(docs_path.name, number, row, "text"),
        })
    questions = []
    for number, row in _read_jsonl(questions_path):
        contexts = row.get("reference_contexts")
        if (not isinstance(contexts, list) or not contexts
                or not all(isinstance(c, str) and c.strip() for c in contexts)):
            raise DatasetError(
                f"{questions_path.name} line {number}, column 'reference_contexts': expected a non-empty "
                "list of non-empty strings."
            )
        questions.append({
            "line": number,
            "question": _text_field(questions_path.name, number, row, "question"),
            "reference": _text_field(questions_path.name, number, row, "reference"),
            "reference_contexts": contexts,
        })
    return docs, questions


# --- chunking ---------------------------------------------------------------------------------


def _window(text: str, size: int, overlap: int) -> list[str]:
    step = size - overlap
    out = []
    for start in range(0, len(text), step):
        piece = text[start : start + size].strip()
        if piece:
            out.append(piece)
        if start + size >= len(text):
            break
    return out


def _pack(units: list[str], size: int, overlap: int, sep: str = " ") -> list[str]:
    """Greedily pack units (sentences or paragraphs) into chunks of at most ``size`` characters,
    joined by ``sep``; each chunk starts with the trailing units of the one before that fit in
    ``overlap``. A unit longer than ``size`` is cut into character windows."""

    def length(parts: list[str]) -> int:
        return sum(len(u) for u in parts) + len(sep) * max(0, len(parts) - 1)

    pieces: list[str] = []
    for unit in units:
        pieces.extend(_window(unit, size, overlap) if len(unit) > size else [unit])
    chunks: list[str] = []
    current: list[str] = []
    fresh = 0  # units in `current` not carried over from the previous chunk
    for piece in pieces:
        if current and length([*current, piece]) > size:
            if fresh:
                chunks.append(sep.join(current))
            carry: list[str] = []
            for unit in reversed(current):
                if length([unit, *carry]) > overlap:
                    break
                carry.insert(0, unit)
            while carry and length([*carry, piece]) > size:  # the carried units plus this piece must fit
                carry.pop(0)
            current, fresh = carry, 0
        current.append(piece)
        fresh += 1
    if current and fresh:
        chunks.append(sep.join(current))
    return chunks


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def split_text(text: str, splitter: str, size: int, overlap: int) -> list[str]:
    """Chunks of one document. Text is kept verbatim inside units (line breaks included), so a
    chunk holding exactly one reference paragraph matches it character for character."""
    if splitter == "characters":
        return _window(text, size, overlap)
    paragraphs = [p.strip() for p in _PARAGRAPH.split(text) if p.strip()]
    if splitter == "sentences":
        return _pack([s for para in paragraphs for s in _sentences(para)], size, overlap)
    units: list[str] = []
    for para in paragraphs:
        # A paragraph too long for one chunk is packed by sentences, not cut mid-word.
        units.extend(_pack(_sentences(para), size, overlap) if len(para) > size else [para])
    return _pack(units, size, overlap, sep="\n\n")


def chunk_documents(docs: list[dict], splitter: str, size: int, overlap: int) -> list[dict]:
    chunks = []
    for doc in docs:
        for n, text in enumerate(split_text(doc["text"], splitter, size, overlap)):
            chunks.append({"id": f"{doc['id']}#{n}", "doc_id": doc["id"], "text": text})
            if len(chunks) > MAX_CHUNKS:
                raise ValueError(f"These settings make more than {MAX_CHUNKS} chunks; use a larger chunk_size "
                                 "or a smaller chunk_overlap.")
    return chunks


# --- retrieval --------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in _STOPWORDS]


class BM25:
    """Okapi BM25 over the chunks (no library needed; a few dozen lines)."""

    def __init__(self, texts: list[str], k1: float = BM25_K1, b: float = BM25_B):
        self.k1, self.b = k1, b
        self.lengths = []
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, text in enumerate(texts):
            counts = Counter(_tokens(text))
            self.lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self.postings.setdefault(term, []).append((i, tf))
        self.n = len(texts)
        self.avg_len = (sum(self.lengths) / self.n) if self.n else 0.0

    def scores(self, query: str) -> list[float]:
        out = [0.0] * self.n
        for term in set(_tokens(query)):
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = math.log(1 + (self.n - len(posting) + 0.5) / (len(posting) + 0.5))
            for i, tf in posting:
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / (self.avg_len or 1))
                out[i] += idf * tf * (self.k1 + 1) / norm
        return out


def _ranking(scores: list[float]) -> list[int]:
    # Highest score first; equal scores keep chunk order, so results never depend on hashing.
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def _fusion_depth(top_k: int) -> int:
    """How deep into each ranking hybrid retrieval looks before fusing."""
    return max(50, 4 * top_k)


def rrf(rankings: list[list[int]], k: int = RRF_K) -> list[int]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, idx in enumerate(ranking, start=1):
            fused[idx] = fused.get(idx, 0.0) + 1.0 / (k + rank)
    return sorted(fused, key=lambda i: (-fused[i], i))


# --- evaluation -------------------------------------------------------------------------------


def _ragas_metrics():
    import warnings

    with warnings.catch_warnings():
        # 0.4.x warns that these names move to ragas.metrics.collections, which does not
        # have the non-LLM context metrics yet; the classes here are the current ones.
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.dataset_schema import SingleTurnSample
        from ragas.metrics import NonLLMContextPrecisionWithReference, NonLLMContextRecall

    precision = NonLLMContextPrecisionWithReference(threshold=SIMILARITY_THRESHOLD)
    recall = NonLLMContextRecall(threshold=SIMILARITY_THRESHOLD)
    return SingleTurnSample, precision, recall


def _score(value: Any) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("RAGAS returned a non-finite score")
    # average precision divides by (hits + 1e-10): clamp the float dust, round for stable output
    return round(min(1.0, max(0.0, value)), 6)


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"cuda:0 {torch.cuda.get_device_name(0)}"
    return "cpu"


def run(spec: dict, emitter: Emitter) -> None:
    raw = spec.get("params", {})
    p = _params(raw)
    started = time.monotonic()
    dataset_path, dataset_meta = _entry_path(raw, "dataset")
    needs_embedder = p["retriever"] in ("dense", "hybrid")
    embedder_path = _entry_path(raw, "embedder")[0] if needs_embedder else None

    emitter.progress(0.0, "reading the dataset")
    docs, questions = load_dataset(dataset_path, dataset_meta)
    if p["max_questions"] and p["max_questions"] < len(questions):
        # A seeded sample (kept in file order) so a smaller run is still a fair slice.
        keep = sorted(random.Random(p["seed"]).sample(range(len(questions)), p["max_questions"]))  # noqa: S311
        questions = [questions[i] for i in keep]
    chunks = chunk_documents(docs, p["splitter"], p["chunk_size"], p["chunk_overlap"])
    if not chunks:
        raise DatasetError("The documents produced no chunks (are their texts empty?).")
    mean_chars = sum(len(c["text"]) for c in chunks) / len(chunks)
    emitter.log(f"{len(docs)} documents -> {len(chunks)} chunks ({p['splitter']}, size {p['chunk_size']}, "
                f"overlap {p['chunk_overlap']}), mean {mean_chars:.0f} characters; {len(questions)} questions")
    emitter.progress(0.05, f"{len(chunks)} chunks from {len(docs)} documents")

    device = "cpu"
    embed_seconds = 0.0
    dense_rank: list[list[int]] = []
    if needs_embedder:
        emitter.progress(0.06, "loading the embedding model")
        import torch

        torch.set_num_threads(max(1, min(p["threads"], int(os.environ.get("OMP_NUM_THREADS", "1")))))
        torch.manual_seed(p["seed"])
        if p["device"] == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            device = p["device"]
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its "Loading weights" bar would only clutter the log

        if not (embedder_path / "modules.json").is_file() and not (embedder_path / "config.json").is_file():
            slug = (raw.get("embedder") or {}).get("slug", "") if isinstance(raw.get("embedder"), dict) else ""
            raise FileNotFoundError(
                f"The embedding model {slug or embedder_path.name!r} has no sentence-transformers files at "
                f"{embedder_path} (no modules.json or config.json). An admin rebuilds the shipped one with "
                "`manage.py registry_build` or registers a sentence-transformers folder in the model registry."
            )
        model = SentenceTransformer(str(embedder_path), device=device, local_files_only=True)
        model.eval()
        t0 = time.monotonic()
        texts = [c["text"] for c in chunks]
        batch = 64
        vectors = []
        for start in range(0, len(texts), batch):
            vectors.append(model.encode(texts[start : start + batch], batch_size=32, convert_to_tensor=True,
                                        normalize_embeddings=True, show_progress_bar=False))
            done = min(len(texts), start + batch)
            emitter.progress(0.08 + 0.5 * done / len(texts), f"embedded {done}/{len(texts)} chunks")
        chunk_vecs = torch.cat(vectors)
        query_vecs = model.encode([q["question"] for q in questions], batch_size=32, convert_to_tensor=True,
                                  normalize_embeddings=True, show_progress_bar=False)
        embed_seconds = time.monotonic() - t0
        # Keep only the head of each ranking: a full one per question would cost
        # questions x chunks Python ints. A stable sort breaks ties by chunk order.
        depth = min(len(chunks), _fusion_depth(p["top_k"]) if p["retriever"] == "hybrid" else p["top_k"])
        sims = (query_vecs @ chunk_vecs.T).float().cpu()
        dense_rank = torch.sort(-sims, dim=1, stable=True).indices[:, :depth].tolist()
    else:
        emitter.progress(0.08, "BM25 needs no embedding model")

    emitter.progress(0.6, f"retrieving the top {p['top_k']} chunks per question ({p['retriever']})")
    bm25 = BM25([c["text"] for c in chunks]) if p["retriever"] in ("bm25", "hybrid") else None
    retrieved: list[list[int]] = []
    for qi, q in enumerate(questions):
        if p["retriever"] == "dense":
            order = dense_rank[qi]
        elif p["retriever"] == "bm25":
            order = _ranking(bm25.scores(q["question"]))
        else:
            depth = _fusion_depth(p["top_k"])
            order = rrf([dense_rank[qi][:depth], _ranking(bm25.scores(q["question"]))[:depth]])
        retrieved.append(order[: p["top_k"]])

    emitter.progress(0.65, "loading RAGAS")
    import asyncio

    SingleTurnSample, precision_metric, recall_metric = _ragas_metrics()

    async def score_one(q: dict, idxs: list[int]) -> tuple[float, float]:
        sample = SingleTurnSample(
            user_input=q["question"],
            retrieved_contexts=[chunks[i]["text"] for i in idxs],
            reference_contexts=q["reference_contexts"],
            reference=q["reference"],
        )
        return (_score(await precision_metric.single_turn_ascore(sample)),
                _score(await recall_metric.single_turn_ascore(sample)))

    rows = []
    every = max(1, len(questions) // 20)
    loop = asyncio.new_event_loop()
    try:
        for n, (q, idxs) in enumerate(zip(questions, retrieved, strict=True), start=1):
            cp, cr = loop.run_until_complete(score_one(q, idxs))
            rows.append({
                "n": n,
                "line": q["line"],
                "question": q["question"],
                "retrieved": [chunks[i]["id"] for i in idxs],
                "context_precision": cp,
                "context_recall": cr,
            })
            # The running mean: the live chart settles towards the final score.
            emitter.metric("context_precision", round(sum(r["context_precision"] for r in rows) / n, 6), step=n)
            emitter.metric("context_recall", round(sum(r["context_recall"] for r in rows) / n, 6), step=n)
            if n % every == 0 or n == len(questions):
                emitter.progress(0.65 + 0.33 * n / len(questions), f"scored {n}/{len(questions)} questions")
    finally:
        loop.close()

    llm = raw.get("llm")
    llm_metrics = {"faithfulness": NOT_RUN_NO_LLM, "answer_relevancy": NOT_RUN_NO_LLM}
    if llm:
        # Writing answers and judging them needs a provider the sandbox can reach (it has no
        # network). No worker passes one yet, and this runner does not call one: say so.
        llm_metrics = {k: NOT_RUN_LLM_UNSUPPORTED for k in llm_metrics}

    def mean(key: str) -> float:
        return round(sum(r[key] for r in rows) / len(rows), 6)

    metrics = {
        "context_precision": mean("context_precision"),
        "context_recall": mean("context_recall"),
        "hit_rate": round(sum(1 for r in rows if r["context_recall"] > 0) / len(rows), 6),
        "questions": len(rows),
        "chunks": len(chunks),
        "mean_chunk_chars": round(mean_chars, 1),
    }
    versions = library_versions("ragas", "sentence-transformers", "transformers", "torch", "rapidfuzz", "numpy")
    device_name = _device_name(device)
    table = {
        "runner_version": RUNNER_VERSION,
        "params": p,
        "metrics": metrics,
        "llm_metrics": llm_metrics,
        "questions": rows,
        "chunks": {c["id"]: c["text"] for c in chunks if any(c["id"] in r["retrieved"] for r in rows)},
    }
    out = Path(spec["work_dir"]) / "per_question.json"
    out.write_text(json.dumps(table, indent=1, ensure_ascii=False), encoding="utf-8")
    emitter.artifact("per_question.json", "table", rows=len(rows))
    emitter.progress(1.0, "done")
    short = [{**r, "question": r["question"][:160]} for r in rows[:RESULT_ROWS]]
    while len(short) > 1 and len(json.dumps(short, ensure_ascii=False).encode()) > RESULT_ROWS_BYTES:
        short = short[: len(short) // 2]  # long chunk ids (a dataset's own) must not sink the result
    emitter.result(
        metrics,
        questions=short,
        questions_total=len(rows),
        llm_metrics=llm_metrics,
        engine=f"ragas {versions['ragas']} non-LLM metrics; {p['retriever']} retrieval"
        + (" with sentence-transformers" if needs_embedder else ""),
        embedder=(raw.get("embedder") or {}).get("slug", "") if needs_embedder and isinstance(raw.get("embedder"), dict)
        else "",
        dataset=(raw.get("dataset") or {}).get("slug", "") if isinstance(raw.get("dataset"), dict) else "",
        versions=versions,
        device=device_name,
        runner_version=RUNNER_VERSION,
        seed=p["seed"],
        seconds=round(time.monotonic() - started, 2),
        embed_seconds=round(embed_seconds, 2),
    )
