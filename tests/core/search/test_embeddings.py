"""The embedding seam: offline MiniLM by default, any backend class by setting."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.test import override_settings

from apps.core import embeddings


class FakeBackend(embeddings.EmbeddingBackend):
    name = "fake"
    dimensions = 384
    loads = 0

    def load(self) -> None:
        type(self).loads += 1

    def embed(self, texts):
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        out[:, 0] = 1.0
        return out


class WrongSize(FakeBackend):
    dimensions = 768


@pytest.fixture
def fresh_backend():
    embeddings.reset_backend()
    yield
    embeddings.reset_backend()


def test_minilm_vectors_are_normalised_and_meaningful():
    vectors = embeddings.embed_texts(["The cat sat on the mat.", "A kitten rested on the rug.", "Stock prices fell."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embeddings.embed_texts([]).shape == (0, 384)


def test_query_embeddings_are_cached_and_cannot_be_corrupted():
    first = embeddings.embed_query("  what is   attention ")
    first[:] = 0  # a caller scribbling on its copy must not poison the cache
    second = embeddings.embed_query("what is attention")
    assert np.linalg.norm(second) == pytest.approx(1.0, abs=1e-4)
    assert embeddings._embed_query_cached.cache_info().hits >= 1


def test_the_backend_loads_once_even_when_threads_race(fresh_backend):
    FakeBackend.loads = 0
    with override_settings(EMBEDDING_MODEL="tests.core.search.test_embeddings.FakeBackend"):
        seen = []
        threads = [threading.Thread(target=lambda: seen.append(embeddings.get_backend())) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert FakeBackend.loads == 1 and len({id(b) for b in seen}) == 1
        assert embeddings.embed_query("anything")[0] == 1.0


def test_misconfigured_backends_say_what_is_wrong(fresh_backend):
    with (
        override_settings(EMBEDDING_MODEL="no.such.Backend"),
        pytest.raises(embeddings.EmbeddingError, match="neither"),
    ):
        embeddings.get_backend()
    with (
        override_settings(EMBEDDING_MODEL="tests.core.search.test_embeddings.WrongSize"),
        pytest.raises(embeddings.EmbeddingError, match="768-d"),
    ):
        embeddings.get_backend()
