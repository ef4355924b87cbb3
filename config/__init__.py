"""Project package.

The design card calls this package ``platform``; a top-level ``platform`` package would
shadow Python's standard-library module of that name and break Django and Celery at
import, so it is ``config``.
"""

from config.celery import app as celery_app

__all__ = ["celery_app"]
