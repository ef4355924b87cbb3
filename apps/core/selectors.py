"""Reads for core: health of the services the platform depends on."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as exc:  # health must report, never raise
        detail, ok = f"{exc.__class__.__name__}: {exc}", False
    return {"ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("pgvector extension missing: run migrations")
    return f"postgresql {connection.pg_version // 10000}, pgvector {row[0]}"


def _redis() -> str:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
        return "redis " + str(client.info("server").get("redis_version"))
    finally:
        client.close()


def _celery() -> str:
    from config.celery import app

    replies = app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no Celery worker answered within 1 s")
    return f"{len(replies)} worker(s): " + ", ".join(sorted(name for reply in replies for name in reply))


def health_report() -> dict[str, Any]:
    """``status`` is "ok", or "degraded" with the failing parts named in ``degraded``.

    The site can serve pages with the worker down (`make run` restarts it), but labs
    cannot run: a monitor must see that, hence 503 and not 200.
    """
    checks = {"database": _timed(_database), "redis": _timed(_redis), "celery": _timed(_celery)}
    failing = [name for name, check in checks.items() if not check["ok"]]
    return {
        "ok": not failing,
        "status": "degraded" if failing else "ok",
        "degraded": failing,
        "checks": checks,
    }
