"""pytest plugin (loaded with ``-p tests.services``): real PostgreSQL+pgvector and Redis.

It runs before pytest-django imports the settings, because the settings read
DATABASE_URL/REDIS_URL. TEST_DATABASE_URL / TEST_REDIS_URL point the suite at external
servers instead of the embedded ones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_state: dict[str, object] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    if hasattr(early_config, "workerinput"):  # an xdist worker: the controller started them
        return
    # Importing the config package sets a default settings module; the tests' must win.
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    from config.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

    root = Path(tempfile.mkdtemp(prefix="genai-test-"))
    _state["root"] = root
    os.environ.setdefault("XDG_RUNTIME_DIR", str(root / "run"))
    os.environ["PLATFORM_DATA_DIR"] = str(root / "data")
    os.environ["LABS_WORK_ROOT"] = str(root / "labs")
    if os.environ.get("TEST_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    else:
        postgres = EmbeddedPostgres(root / "postgres")
        os.environ["DATABASE_URL"] = postgres.start()
        _state["postgres"] = postgres
    if os.environ.get("TEST_REDIS_URL"):
        os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    else:
        redis = EmbeddedRedis(root / "redis", port=free_port())
        os.environ["REDIS_URL"] = redis.start()
        _state["redis"] = redis


def pytest_unconfigure(config) -> None:
    redis = _state.pop("redis", None)
    if redis is not None:
        redis.stop()  # type: ignore[attr-defined]
    postgres = _state.pop("postgres", None)
    if postgres is not None:
        postgres.stop()  # type: ignore[attr-defined]
    root = _state.pop("root", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)  # type: ignore[arg-type]
