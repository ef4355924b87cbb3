"""The search index: documents from every registered source, cut into chunks.

Rows are written only by ``apps.core.search.services`` (from the registry's sources) and
read by ``apps.core.search.selectors``. Each chunk is findable two ways: by words
(``search_vector``, a tsvector Postgres computes itself, GIN-indexed) and by meaning
(``embedding``, a normalised MiniLM vector, HNSW-indexed for cosine distance).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField


class SearchChunk(models.Model):
    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=200)
    chunk_no = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    url = models.CharField(max_length=500)
    text = models.TextField()
    summary = models.TextField(blank=True)
    # Postgres keeps this in step with title/text on every INSERT/UPDATE (GENERATED ALWAYS
    # AS ... STORED), so no code path can forget it. Title words weigh more than body words.
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)
    # sha256 of what was embedded (and by which model): unchanged chunks keep their vector.
    content_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "core"
        constraints = [
            models.UniqueConstraint(fields=["kind", "key", "chunk_no"], name="core_searchchunk_doc_chunk_uniq"),
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="core_searchchunk_fts_gin"),
            HnswIndex(
                fields=["embedding"], name="core_searchchunk_emb_hnsw",
                m=16, ef_construction=64, opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}#{self.chunk_no}"


class SearchCard(models.Model):
    """One per document: the embedding of its title and summary ("Hallucination: When a model
    produces fluent, confident text that is false or made up.").

    A passage embeds a whole section; a short question embeds closer to a one-line
    description of the idea it asks about, so the selectors add this similarity to the
    passage's when they score a document (see ``selectors`` and bench/search/relevance.py).
    Written and deleted together with the document's chunks.
    """

    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=200)
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)
    content_hash = models.CharField(max_length=64)  # sha256 of what was embedded (and the model)

    class Meta:
        app_label = "core"
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="core_searchcard_doc_uniq")]
        indexes = [
            HnswIndex(
                fields=["embedding"], name="core_searchcard_emb_hnsw",
                m=16, ef_construction=64, opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"card {self.kind}:{self.key}"


# Celery's autodiscovery imports ``<app>.tasks`` for each installed app, i.e. apps.core.tasks,
# never this subpackage; importing the task module here registers ``search_reindex`` in
# every process that loads the models (web, worker, commands). The module imports no models.
from apps.core.search import tasks as _tasks  # noqa: E402,F401
