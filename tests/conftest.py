"""Fixtures shared by every app's tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from apps.core.models import User
from apps.core.roles import AUTHOR, HIRING_MANAGER, LEARNER, role_groups_sync
from config.embedded import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-12345-x"  # every test user's password


def make_user(username: str, *roles: str, **extra) -> User:
    role_groups_sync()
    user = User.objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD, **extra)
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def learner(db) -> User:
    return make_user("lena", LEARNER)


@pytest.fixture
def other_learner(db) -> User:
    return make_user("omar", LEARNER)


@pytest.fixture
def author(db) -> User:
    return make_user("ada", AUTHOR, is_staff=True)


@pytest.fixture
def hiring_manager(db) -> User:
    return make_user("hana", HIRING_MANAGER)


@pytest.fixture
def staff(db) -> User:
    return make_user("sam", is_staff=True, is_superuser=True)


@pytest.fixture(scope="module")
def shipped(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The shipped curriculum loaded and search-indexed once per module (rolled back at its end),
    for tests of how the real content is found and cited."""
    from django.conf import settings
    from django.db import transaction

    from apps.core.search.services import search_reindex_all
    from apps.curriculum.loader import curriculum_load

    with django_db_blocker.unblock(), transaction.atomic():
        try:
            curriculum_load(Path(settings.CONTENT_DIR))
            assert search_reindex_all() > 300
            yield
        finally:
            transaction.set_rollback(True)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def child_env(**overrides: str) -> dict[str, str]:
    """Environment for a subprocess that must use the *test* database (after django_db_setup)."""
    from urllib.parse import urlparse, urlunparse

    from django.db import connection

    url = urlparse(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    env = {**os.environ, "DATABASE_URL": urlunparse(url), "DJANGO_SETTINGS_MODULE": "config.settings.test", **overrides}
    env.pop("TEST_DATABASE_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # servers and workers keep Django's async safety check
    return env


def stop_process(proc: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the process group (a warm shutdown), SIGKILL it after ``grace`` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def start_worker(name: str | None = None, concurrency: int = 2, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A real Celery worker process (not eager) consuming cpu and gpu, on the test database.
    ``env`` overrides settings read from the environment (e.g. a small cap) in that worker."""
    from config.celery import app

    name = name or f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "cpu,gpu", "-c", str(concurrency),
         "--loglevel", "warning", "-n", name, "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=child_env(**(env or {})), start_new_session=True, preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited with {proc.returncode}")
        if app.control.ping(destination=[name], timeout=0.5):
            return proc
    stop_process(proc, grace=0)
    raise RuntimeError("celery worker did not answer a ping within 60 s")


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[subprocess.Popen]:
    proc = start_worker()
    yield proc
    stop_process(proc)


@pytest.fixture
def live_asgi_server(transactional_db) -> Iterator[str]:
    """The real ASGI app (HTTP + websockets) under uvicorn, on the test database. Yields its URL."""
    from config.embedded import free_port, wait_for_tcp

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--lifespan", "off"],
        cwd=ROOT, env=child_env(), start_new_session=True, preexec_fn=die_with_parent,
    )
    try:
        if not wait_for_tcp("127.0.0.1", port, 60):
            raise RuntimeError("uvicorn did not start within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, grace=10)


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser(monkeypatch):
    """Headless Debian Chromium driven by Playwright (Playwright cannot download browsers here)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: apt-get install -y chromium (.ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # While it is open, Playwright's sync API marks an event loop as running in this thread,
        # and Django then refuses ORM calls from the test's own (plain sync) code. Allow them for
        # this test only; servers and workers started through child_env() keep the check.
        monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield browser
        browser.close()
        # ORM calls made while the loop was marked running got their own connection (Django's
        # connection store is context-local); close it here, in that context.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def browser_login(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets its own channel layer: channels_redis keeps an asyncio lock that belongs
    to the event loop that first used it, and tests run their websockets on fresh loops; a
    layer left over from an earlier test fails with "bound to a different event loop"."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_content_generation():
    """Each test starts new content, permission and search-index generations: Redis outlives
    the test's rolled-back database, and what an earlier test cached must not reach this one."""
    from apps.core.auth_backends import PERMISSIONS
    from apps.core.content_cache import CONTENT
    from apps.core.search.selectors import SEARCH_INDEX

    for generation in (CONTENT, PERMISSIONS, SEARCH_INDEX):
        generation.forget()


@pytest.fixture
def no_celery_sends(monkeypatch) -> None:
    """Drop Celery sends (pages that enqueue work, tested without a broker round trip)."""
    from config.celery import app

    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: None)
