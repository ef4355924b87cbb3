"""The Celery application: JSON only, acks late, ``cpu`` and ``gpu`` queues."""

from __future__ import annotations

import os
import signal
import warnings

from celery import Celery
from celery.signals import beat_embedded_init, worker_process_init
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# The lab worker runs as root on purpose: it mounts each job's quota tmpfs and starts
# bubblewrap, which drops the job to uid 65534 with no capabilities. Celery's root warning
# (about pickle, which this app never accepts: JSON only) would repeat on every restart.
warnings.filterwarnings("ignore", message="You're running the worker with superuser privileges")

app = Celery("genai_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue has its own exchange: a task sent to "gpu" must never also land on "cpu".
app.conf.task_queues = (
    Queue("cpu", Exchange("cpu"), routing_key="cpu"),
    Queue("gpu", Exchange("gpu"), routing_key="gpu"),
)
app.autodiscover_tasks()


@worker_process_init.connect
@beat_embedded_init.connect
def _die_with_worker(**kwargs: object) -> None:
    """Pool processes (and the embedded beat) die with the worker's main process.

    A main process killed with SIGKILL runs no shutdown: without this its pool processes
    lived on with no parent, holding a job's sandbox. Their task goes back to the queue
    (acks_late) and the lab reaper runs it again.
    """
    from config.embedded import die_with_parent

    die_with_parent(signal.SIGKILL)
