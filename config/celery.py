"""The Celery application: JSON only, acks late, ``cpu`` and ``gpu`` queues."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("genai_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue has its own exchange: a task sent to "gpu" must never also land on "cpu".
app.conf.task_queues = (
    Queue("cpu", Exchange("cpu"), routing_key="cpu"),
    Queue("gpu", Exchange("gpu"), routing_key="gpu"),
)
app.autodiscover_tasks()
