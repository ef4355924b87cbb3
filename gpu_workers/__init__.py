"""Lab job workers: the Celery entry for the lab queues lives beside ``runners/``.

``runners/`` is the code that runs INSIDE the sandbox; it must not import Django (the
sandbox has no settings, no database and no secrets).
"""
