"""Refuse a RAG evaluation that would cut its corpus into too many chunks, before it is queued.

Kept apart from the kind's definition so the estimate can be read and tested on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.core.errors import ApplicationError

MEMORY_MB = 2048
#: The most chunks one run may embed and index. Time binds before memory does: 10k chunks of
#: 256 tokens take MiniLM minutes on one CPU core, while their vectors, texts and postings
#: need ~100 MB (see estimate()). The runner has its own, looser backstop.
MAX_CHUNKS = 10_000
#: Resident memory apart from the chunks: PyTorch, sentence-transformers, MiniLM and RAGAS
#: (with LangChain). The default run on rag-curriculum (392 chunks) peaked at 953 MB on CPU.
BASE_MEMORY_MB = 1000
#: Per chunk: its 384-float vector, the dicts around it, its BM25 postings, generously.
CHUNK_OVERHEAD_BYTES = 4096
#: Bytes of memory per character of chunk text (the str, its tokens, copies), roughly.
BYTES_PER_CHUNK_CHAR = 4


def _host_docs_bytes(entry: dict[str, Any]) -> int | None:
    """Size of the dataset's docs.jsonl on this host (the sandbox sees it under /models), or None.

    The file's bytes bound its text's characters from above (JSON quoting, ids and titles
    add to it), so the estimate errs on the side of more chunks.
    """
    from django.conf import settings

    path = str(entry.get("path") or "")
    root = str(getattr(settings, "LABS_MODEL_DIR", "") or "")
    relative = path.removeprefix("/models/") if path.startswith("/models/") else ""
    if not relative or not root:
        return None
    files = (entry.get("meta") or {}).get("files") or {}
    docs = Path(root) / relative / str(files.get("docs", "docs.jsonl"))
    try:
        return docs.stat().st_size
    except OSError:
        return None


def corpus_size(entry: dict[str, Any]) -> tuple[int | None, int]:
    """(characters in the documents, number of documents) of a resolved rag-corpus entry.

    ``meta["docs_chars"]`` when the registry recorded it, else the size of docs.jsonl here.
    """
    meta = entry.get("meta") or {}
    chars = meta.get("docs_chars")
    if not isinstance(chars, int) or isinstance(chars, bool):
        chars = _host_docs_bytes(entry)
    rows = meta.get("rows")
    docs = rows.get("docs.jsonl") if isinstance(rows, dict) else meta.get("docs")
    return chars, docs if isinstance(docs, int) and not isinstance(docs, bool) else 0


def estimate(params: dict[str, Any], chars: int, docs: int) -> dict[str, int]:
    """About how many chunks and MB these settings need for ``chars`` characters in ``docs`` documents.

    Every splitter moves on by roughly ``chunk_size - chunk_overlap`` characters per chunk and
    starts afresh at each document, so that is the estimate for all three.
    """
    size, overlap = int(params["chunk_size"]), int(params["chunk_overlap"])
    chunks = docs + -(-chars // max(1, size - overlap))
    memory = BASE_MEMORY_MB + chunks * (CHUNK_OVERHEAD_BYTES + BYTES_PER_CHUNK_CHAR * size) / (1024 * 1024)
    return {"chunks": int(chunks), "memory_mb": round(memory), "chars": int(chars)}


def preflight(params: dict[str, Any], resolved: dict[str, Any]) -> None:
    size, overlap = int(params["chunk_size"]), int(params["chunk_overlap"])
    if overlap >= size:
        raise ApplicationError(
            f"Overlap ({overlap}) must be smaller than the chunk size ({size}); otherwise the splitter "
            "would never move forward. Lower the overlap or raise the chunk size.",
            field="params.chunk_overlap",
        )
    entry = resolved.get("dataset")
    if not isinstance(entry, dict):
        return  # no registry entry to size: the runner caps the chunks itself
    chars, docs = corpus_size(entry)
    if chars is None:
        return
    found = estimate(params, chars, docs)
    name = entry.get("slug") or "the dataset"
    if found["chunks"] > MAX_CHUNKS:
        raise ApplicationError(
            f"These settings would cut the ~{found['chars']:,} characters of {name} into about "
            f"{found['chunks']:,} chunks (estimated {found['memory_mb']:,} MB); this lab embeds at most "
            f"{MAX_CHUNKS:,} chunks. Use a larger chunk size or a smaller overlap.",
            field="params.chunk_size",
        )
