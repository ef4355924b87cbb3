"""Issue 14, finding 5: password guessing, signup floods and tokens that never expire.

Every attack goes through the endpoint an attacker uses: the login form, the admin login,
``POST /api/v1/auth/token/`` (through Django's full middleware stack, and once through the
real ASGI server), the signup and password-change forms."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from email.message import Message

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from apps.core.models import User
from tests.conftest import PASSWORD, make_user

LIMIT = settings.AXES_FAILURE_LIMIT


def _cool_off_passes() -> None:
    """Time travel: every recorded failure becomes one cool-off older."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))


def _assert_locked_page(response) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= settings.AXES_COOLOFF_TIME.total_seconds()
    assert "Try again in" in response.content.decode()


def test_login_form_locks_after_ten_failures_then_cools_off(client, learner):
    url = reverse("login")
    for _ in range(LIMIT):
        response = client.post(url, {"username": "lena", "password": "wrong"})
        assert response.status_code == 200 and "enter a correct username and password" in response.content.decode()
    # The 11th attempt is refused even with the right password, and the page says when to retry.
    response = client.post(url, {"username": "lena", "password": PASSWORD})
    _assert_locked_page(response)
    assert "_auth_user_id" not in client.session
    # Refused attempts do not extend the lock: after the cool-off the right password works.
    for _ in range(3):
        assert client.post(url, {"username": "lena", "password": "wrong"}).status_code == 429
    _cool_off_passes()
    assert client.post(url, {"username": "lena", "password": PASSWORD}).status_code == 302


def test_admin_login_locks_after_ten_failures(client, staff):
    url = reverse("admin:login")
    for _ in range(LIMIT):
        assert client.post(url, {"username": "sam", "password": "wrong"}).status_code == 200
    _assert_locked_page(client.post(url, {"username": "sam", "password": PASSWORD}))
    _cool_off_passes()
    assert client.post(url, {"username": "sam", "password": PASSWORD}).status_code == 302


def test_api_token_locks_with_json_and_retry_after(api_client, learner):
    url = reverse("api-token")
    for _ in range(LIMIT):
        response = api_client.post(url, {"username": "lena", "password": "wrong"}, format="json")
        assert response.status_code == 400
    response = api_client.post(url, {"username": "lena", "password": PASSWORD}, format="json")
    assert response.status_code == 429
    body = response.json()
    assert "Try again in" in body["detail"] and int(response["Retry-After"]) == body["retry_after"] > 0
    assert not Token.objects.filter(user=learner).exists()
    _cool_off_passes()
    assert api_client.post(url, {"username": "lena", "password": PASSWORD}, format="json").status_code == 200


def test_one_ip_spraying_many_accounts_is_locked(client, learner):
    url = reverse("login")
    for n in range(LIMIT):
        make_user(f"victim{n}")
        assert client.post(url, {"username": f"victim{n}", "password": "wrong"}).status_code == 200
    # From that IP even an account with no failures of its own is refused.
    _assert_locked_page(client.post(url, {"username": "lena", "password": PASSWORD}))


def test_one_account_guessed_from_many_ips_is_locked_and_others_are_not(client, learner, other_learner):
    url = reverse("api-token")
    for n in range(LIMIT):
        response = client.post(url, {"username": "lena", "password": "wrong"}, REMOTE_ADDR=f"10.0.0.{n + 1}")
        assert response.status_code == 400
    response = client.post(url, {"username": "lena", "password": PASSWORD}, REMOTE_ADDR="10.0.1.1")
    assert response.status_code == 429
    # Someone else from that fresh IP is not affected.
    response = client.post(url, {"username": "omar", "password": PASSWORD}, REMOTE_ADDR="10.0.1.1")
    assert response.status_code == 200


def test_forged_x_forwarded_for_does_not_escape_the_ip_lock(client, learner):
    url = reverse("api-token")
    for n in range(LIMIT):
        make_user(f"victim{n}")
        response = client.post(url, {"username": f"victim{n}", "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}")
        assert response.status_code == 400
    response = client.post(url, {"username": "lena", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="9.9.9.9")
    assert response.status_code == 429


def test_a_success_clears_only_that_accounts_own_failures(client, learner):
    url = reverse("login")
    for _ in range(LIMIT - 1):
        assert client.post(url, {"username": "lena", "password": "wrong"}).status_code == 200
    assert client.post(url, {"username": "lena", "password": PASSWORD}).status_code == 302  # typos forgiven
    client.post(reverse("logout"))
    assert not AccessAttempt.objects.filter(username="lena").exists()

    # An attacker's own successful login does not wash the IP's guesses at other accounts.
    for n in range(LIMIT - 1):
        make_user(f"victim{n}")
        assert client.post(url, {"username": f"victim{n}", "password": "wrong"}).status_code == 200
    assert client.post(url, {"username": "lena", "password": PASSWORD}).status_code == 302
    client.post(reverse("logout"))
    assert client.post(url, {"username": "victim0", "password": "wrong"}).status_code == 200  # the 10th failure
    _assert_locked_page(client.post(url, {"username": "lena", "password": PASSWORD}))


def _signup(client, n: int):
    return client.post(
        reverse("signup"),
        {
            "username": f"new{n}",
            "email": f"new{n}@example.com",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
        },
    )


def test_signup_flood_from_one_ip_gets_429(client, db, settings):
    settings.ACCOUNT_THROTTLE_RATES = {**settings.ACCOUNT_THROTTLE_RATES, "signup": "3/hour"}
    cache.delete("throttle_signup_127.0.0.1")
    for n in range(3):
        assert _signup(client, n).status_code == 302
        client.post(reverse("logout"))
    response = _signup(client, 3)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600 and "Try again in" in response.content.decode()
    assert not User.objects.filter(username="new3").exists()
    assert client.get(reverse("signup")).status_code == 200  # reading the form is never limited
    # Another address is not affected.
    response = client.post(
        reverse("signup"),
        {
            "username": "new9",
            "email": "new9@example.com",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
        },
        REMOTE_ADDR="10.9.9.9",
    )
    assert response.status_code == 302
    cache.delete_many(["throttle_signup_127.0.0.1", "throttle_signup_10.9.9.9"])


def test_password_change_guessing_is_limited_per_account(client, learner, settings):
    settings.ACCOUNT_THROTTLE_RATES = {**settings.ACCOUNT_THROTTLE_RATES, "password_change": "3/hour"}
    key = f"throttle_password_change_user-{learner.pk}"
    cache.delete(key)
    client.force_login(learner)
    data = {"old_password": "wrong", "new_password1": "a-Long-pass-123", "new_password2": "a-Long-pass-123"}
    for _ in range(3):
        assert client.post(reverse("password_change"), data).status_code == 200
    response = client.post(reverse("password_change"), {**data, "old_password": PASSWORD})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    learner.refresh_from_db()
    assert learner.check_password(PASSWORD)
    cache.delete(key)


def test_expired_token_is_refused_with_401_and_the_token_endpoint_rotates_it(api_client, learner):
    old = Token.objects.create(user=learner)
    Token.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(hours=settings.API_TOKEN_TTL_HOURS + 1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {old.key}")
    response = api_client.get(reverse("api-me"))
    assert response.status_code == 401
    assert response.json()["detail"] == "Token expired: POST /api/v1/auth/token/ for a new one."
    assert response["WWW-Authenticate"] == "Token"

    api_client.credentials()
    response = api_client.post(reverse("api-token"), {"username": "lena", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    new_key = response.json()["token"]
    assert new_key != old.key and not Token.objects.filter(pk=old.pk).exists()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {new_key}")
    assert api_client.get(reverse("api-me")).json()["username"] == "lena"


def _post_json(url: str, data: dict) -> tuple[int, dict, Message]:
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        url, data=json.dumps(data).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


@pytest.mark.stack
def test_lockout_through_the_real_asgi_server(live_asgi_server, learner):
    """uvicorn runs axes' async middleware path, which differs from the test client's."""
    url = f"{live_asgi_server}/api/v1/auth/token/"
    for _ in range(LIMIT):
        assert _post_json(url, {"username": "lena", "password": "wrong"})[0] == 400
    status, body, headers = _post_json(url, {"username": "lena", "password": PASSWORD})
    assert status == 429 and body["retry_after"] > 0 and headers["Retry-After"] == str(body["retry_after"])
    assert "Try again in" in body["detail"]
