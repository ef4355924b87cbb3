"""Issue 14, findings 2 and 8: error pages that show nothing internal; an embedded Redis
that other local users cannot use."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import redis
from django.test import override_settings
from django.urls import path

from config.embedded import EmbeddedRedis, free_port


def _raw(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(payload)
        return conn.recv(200)


def test_embedded_redis_refuses_clients_without_its_password(tmp_path):
    server = EmbeddedRedis(tmp_path / "data" / "redis", port=free_port())
    url = server.start()
    try:
        # What another local user can do: open the loopback port and talk to it.
        assert _raw(server.port, b"PING\r\n").startswith(b"-NOAUTH")
        assert _raw(server.port, b"CONFIG GET dir\r\n").startswith(b"-NOAUTH")
        assert redis.Redis.from_url(url).ping()  # the URL we export carries the password
        password = (tmp_path / "data" / "redis" / "password").read_text().strip()
        assert len(password) >= 32 and password in url
        for secret in ("password", "redis.conf"):
            assert stat.S_IMODE((tmp_path / "data" / "redis" / secret).stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "data" / "redis").stat().st_mode) == 0o700
        # Not on the command line, which every local user can read.
        assert password.encode() not in Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    finally:
        server.stop()
    again = EmbeddedRedis(tmp_path / "data" / "redis", port=free_port())
    try:
        assert again.start().split("@")[0] == url.split("@")[0]  # the password is kept
    finally:
        again.stop()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to act as another user")
def test_another_local_user_cannot_use_the_embedded_redis(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    server.start()
    try:
        probe = (
            f"import socket; s = socket.create_connection(('127.0.0.1', {server.port})); "
            "s.sendall(b'KEYS *\\r\\n'); print(s.recv(100))"
        )
        out = subprocess.run(
            ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3", "-c", probe],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "NOAUTH" in out.stdout, out
    finally:
        server.stop()


def _boom(request):
    raise RuntimeError("secret detail that must not be shown")


urlpatterns = [path("boom/", _boom), path("api/boom/", _boom)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "headers", "status", "text"),
    [
        ("/no-such-page/", {}, 404, "We could not find that page"),
        ("/", {"HTTP_HOST": "evil.example"}, 400, "We could not understand that request"),
    ],
)
def test_error_pages_are_the_sites_own(client, url, headers, status, text):
    response = client.get(url, **headers)
    body = response.content.decode()
    assert response.status_code == status
    assert text in body and 'name="viewport"' in body and 'aria-label="Main"' in body
    for leak in ("URLconf", "urlpatterns", "DEBUG", "Traceback", "SECRET_KEY", "Request Method"):
        assert leak not in body


@pytest.mark.django_db
def test_csrf_failure_is_a_styled_403(client):
    client.handler.enforce_csrf_checks = True
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    body = response.content.decode()
    assert response.status_code == 403
    assert "This form has expired" in body and 'name="viewport"' in body and "CSRF verification" not in body


def test_media_files_have_no_url(client, settings, db, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # the session's MEDIA_ROOT stays clean for other tests
    media = tmp_path / "labs" / "artifacts" / "x"
    media.mkdir(parents=True, exist_ok=True)
    (media / "evil.html").write_text("<script>alert(1)</script>")
    with override_settings(DEBUG=True):  # not even in development
        from importlib import reload

        import config.urls

        reload(config.urls)
        from django.urls import clear_url_caches

        clear_url_caches()
        try:
            assert client.get("/media/labs/artifacts/x/evil.html").status_code == 404
        finally:
            reload(config.urls)
            clear_url_caches()


@override_settings(ROOT_URLCONF=__name__)
def test_server_error_page_needs_no_database(client, django_assert_num_queries, db):
    client.raise_request_exception = False
    with django_assert_num_queries(0):
        response = client.get("/boom/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in body and 'name="viewport"' in body and 'href="/learn/"' in body
    assert "secret detail" not in body and "RuntimeError" not in body


handler500 = "apps.core.views.server_error"
handler404 = "apps.core.views.page_not_found"


@override_settings(ROOT_URLCONF=__name__)
def test_api_errors_are_json(client, db):
    client.raise_request_exception = False
    response = client.get("/api/boom/")
    assert response.status_code == 500 and response.json()["detail"].startswith("Internal error")
    response = client.get("/api/nothing-here/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
