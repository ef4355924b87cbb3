"""Evaluate a RAG retriever with RAGAS (runner: gpu_workers/runners/rag_eval.py).

The question set and the embedding model come from the model registry (``rag-corpus`` and
``embedding`` entries); the preflight (preflight.py) refuses settings that would cut the
corpus into more chunks than a sandbox should embed, with the estimate.
"""

from __future__ import annotations

from apps.labs.kinds import LabKind, Param, Target
from apps.labs.kinds.rag_eval.preflight import MEMORY_MB, preflight

KIND = LabKind(
    slug="rag-eval",
    runner="rag_eval",
    title="RAG evaluation: chunk, retrieve, score with RAGAS",
    summary="Cut a document set into chunks, retrieve the best ones for each question with "
    "embeddings, BM25 or both, and score the retrieval against reference passages with RAGAS.",
    params=(
        Param("dataset", "dataset", "Question set", "rag-curriculum", registry_kind="rag-corpus",
              help="Documents plus questions, each with a reference answer and the passages that "
              "contain it. Only registered, ready sets are offered."),
        Param("embedder", "model", "Embedding model", "all-minilm-l6-v2", registry_kind="embedding",
              help="Turns chunks and questions into vectors for dense and hybrid retrieval "
              "(BM25 does not use it)."),
        Param("splitter", "choice", "Splitter", "paragraphs", choices=("paragraphs", "sentences", "characters"),
              help="Where chunks may end: at paragraph breaks, at sentence ends, or after a fixed "
              "number of characters even in the middle of a word."),
        Param("chunk_size", "int", "Chunk size (characters)", 500, min=100, max=2000, step=50,
              help="The longest a chunk may be. MiniLM reads about 1,000 characters at most; the "
              "rest of a longer chunk is invisible to dense search."),
        Param("chunk_overlap", "int", "Overlap (characters)", 0, min=0, max=500, step=10,
              help="How much of the end of one chunk is repeated at the start of the next, so a "
              "passage cut in two still appears whole somewhere."),
        Param("retriever", "choice", "Retriever", "hybrid", choices=("hybrid", "dense", "bm25"),
              help="dense = cosine similarity of MiniLM vectors; bm25 = keyword scoring; hybrid = "
              "both rankings merged by reciprocal rank fusion."),
        Param("top_k", "int", "Chunks retrieved (top-k)", 5, min=1, max=20,
              help="How many chunks each question gets. More can only raise recall; precision "
              "rewards relevant chunks near the top, so one found far down the list lowers it."),
        Param("max_questions", "int", "Questions to score", 0, min=0, max=500,
              help="0 scores every question; a smaller number scores a seeded random subset."),
        Param("seed", "int", "Random seed", 42, min=0, max=2**31 - 1,
              help="Picks the question subset when not all are scored; the rest has no randomness."),
    ),
    limits={"wall_seconds": 600, "cpu_seconds": 1200, "memory_mb": MEMORY_MB, "max_processes": 64,
            "max_file_mb": 64, "max_log_bytes": 500_000},
    targets=(
        # The defaults on rag-curriculum: recall 0.55, precision 0.36 (measured; deterministic).
        Target("context_recall", ">=", 0.5, "Context recall of at least 0.5"),
        Target("context_precision", ">=", 0.3, "Context precision of at least 0.3"),
    ),
    queue="gpu",
    estimated_minutes=2.0,
    milestone_slug="production-rag-pipeline",
    position=30,
    chart_metrics=("context_recall", "context_precision"),
    key_metrics=("context_recall", "context_precision"),
    # PyTorch + sentence-transformers + RAGAS (with LangChain) cost several seconds of a cold start.
    warm_imports=("torch", "sentence_transformers", "ragas.dataset_schema", "ragas.metrics"),
    preflight=preflight,
)
