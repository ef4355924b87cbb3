"""Hybrid search over everything the platform teaches (full text + vectors, fused with RRF).

- ``registry``: apps register a source per kind of document (``register_search_source``).
- ``services``: the only writers of the index (``search_index_schedule`` / ``_update``).
- ``selectors``: ``search()`` - one SQL statement, one hit per document.
- ``tasks``: the Celery task ``search_reindex``; ``views`` / ``api``: /search/ and /api/v1/search/.
"""
