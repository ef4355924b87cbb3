"""Container health checks (Docker HEALTHCHECK, Kubernetes exec probes). No Django import for web.

``python docker/healthcheck.py web``: the ASGI server answers HTTP on $PORT (any status: a 503
from /healthz means a dependency is degraded, not that this process should be restarted).
``python docker/healthcheck.py worker``: this Celery worker answers a ping over the broker.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request


def web() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    try:
        urllib.request.urlopen(url, timeout=5)
    except urllib.error.HTTPError:
        return 0  # it answered
    except OSError as exc:
        print(f"web does not answer at {url}: {exc}", file=sys.stderr)
        return 1
    return 0


def worker() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    from config.celery import app

    # The worker runs with `-n <prefix>@%h`: %h is this container's host name.
    name = f"{os.environ.get('CELERY_NODE_PREFIX', 'celery')}@{socket.gethostname()}"
    replies = app.control.ping(destination=[name], timeout=5.0)
    if not replies:
        print(f"worker {name} does not answer a ping", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit({"web": web, "worker": worker}[sys.argv[1] if len(sys.argv) > 1 else "web"]())
