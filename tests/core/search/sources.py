"""A tiny search source of kind "testdoc", registered on import.

The tests register it in-process with the ``testdoc_source`` fixture; a real Celery worker
started by a test imports it through ``SEARCH_SOURCE_MODULES`` (inherited environment).
"""

from __future__ import annotations

from apps.core.search.registry import SearchDocument, register_search_source

KIND = "testdoc"


def _doc(key: str, title: str, body: str, summary: str = "") -> SearchDocument:
    return SearchDocument(kind=KIND, key=key, title=title, url=f"/test/{key}/", body=body, summary=summary)


DOCUMENTS: dict[str, SearchDocument] = {
    d.key: d
    for d in [
        _doc(
            "lora", "Low-rank adapters",
            "Low-rank adapters freeze the base weights and train small matrices.",
            "Adapters for parameter-efficient tuning.",
        ),
        _doc(
            "positional-encoding", "Positional encodings",
            "# Positional encodings\n\nSelf-attention sees a set of tokens, not a sequence. Positional encodings add "
            "each token's position (sinusoids or learned vectors) so the transformer knows word order.",
        ),
        _doc(
            "kv-cache", "KV cache",
            "During generation the key and value tensors of earlier tokens are kept in a cache, so each new token "
            "attends to them without recomputing the whole prefix.",
        ),
        _doc(
            "bpe", "Byte-pair encoding",
            "BPE starts from characters and repeatedly merges the most frequent adjacent pair into a new symbol, "
            "building a subword vocabulary.",
        ),
        _doc(
            "rag", "Retrieval-augmented generation",
            "RAG retrieves relevant passages from a document store and gives them to the language model as context "
            "before it answers.",
        ),
        _doc(
            "perplexity", "Perplexity",
            "Perplexity measures how well a language model predicts held-out text: the exponential of the average "
            "negative log-likelihood per token. Lower perplexity means better next-token prediction.",
        ),
        _doc(
            "sourdough", "Perplexity in the kitchen",
            "Perplexity, perplexity, perplexity: my perplexity grew as the sourdough starter refused to rise. "
            "Feed the starter flour and water twice a day and keep the jar warm.",
        ),
        _doc(
            "xss", "Escaping <b>markup</b> & friends",
            "A snippet must never execute `<script>alert('pwned')</script>` from indexed text; sanitization escapes "
            "markup before highlighting.",
        ),
        _doc(
            "gradient-descent", "Gradient descent",
            "Gradient descent updates parameters in the direction that lowers the loss, scaled by the learning rate.",
        ),
    ]
}


def iter_documents():
    return list(DOCUMENTS.values())


def get_document(key: str) -> SearchDocument | None:
    return DOCUMENTS.get(key)


def register() -> None:
    register_search_source(KIND, iter_documents, get_document, label="Test documents")


register()
