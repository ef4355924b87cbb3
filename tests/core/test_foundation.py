from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.urls import reverse

from apps.core.models import User
from apps.core.roles import AUTHOR, HIRING_MANAGER, LEARNER, user_has_role
from apps.core.services import demo_accounts_ensure


def test_stdlib_platform_module_is_not_shadowed():
    """The project package is config/, so `import platform` is still the stdlib module."""
    out = subprocess.run(
        [sys.executable, "-c", "import platform, django, celery; print(platform.system(), platform.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout
    system, path = out.split()
    assert system == "Linux"
    # The stdlib module, from the interpreter's own lib/ - not a project folder.
    assert path.endswith("/platform.py") and "/work/main/" not in path
    import config

    assert config.__name__ == "config"


@pytest.mark.django_db
def test_vector_extension_is_installed_by_the_first_migration():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchone() == ("vector",)


@pytest.mark.django_db
def test_signup_creates_a_learner_and_logs_in(client):
    response = client.post(
        reverse("signup"),
        {"username": "newbie", "email": "New@Example.com", "password1": "a-long-pass-9", "password2": "a-long-pass-9"},
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.email == "new@example.com"
    assert user_has_role(user, LEARNER) and not user_has_role(user, AUTHOR)
    assert client.get(reverse("home")).context["user"] == user


@pytest.mark.django_db
def test_signup_with_bad_input_says_what_to_fix_and_creates_nothing(client, learner):
    response = client.post(
        reverse("signup"),
        {"username": "x2", "email": learner.email.upper(), "password1": "short", "password2": "other"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "already exists" in body and "didn" in body  # duplicate email, mismatched passwords
    assert not User.objects.filter(username="x2").exists()


@pytest.mark.django_db
def test_login_logout_and_password_change(client, learner):
    assert client.post(reverse("login"), {"username": "lena", "password": "pw-12345-x"}).status_code == 302
    response = client.post(
        reverse("password_change"),
        {"old_password": "pw-12345-x", "new_password1": "brand-new-9z", "new_password2": "brand-new-9z"},
    )
    assert response.status_code == 302
    learner.refresh_from_db()
    assert learner.check_password("brand-new-9z")
    assert client.post(reverse("logout")).status_code == 302
    assert not client.get(reverse("home")).context["user"].is_authenticated


@pytest.mark.django_db
def test_demo_accounts_get_roles_and_random_passwords_once():
    first = {a.username: a for a in demo_accounts_ensure()}
    assert {a.role for a in first.values()} == {LEARNER, AUTHOR, HIRING_MANAGER}
    assert all(a.password and len(a.password) >= 12 for a in first.values())
    assert User.objects.get(username="author").is_staff
    assert user_has_role(User.objects.get(username="hiring"), HIRING_MANAGER)
    second = demo_accounts_ensure()
    assert all(a.password is None for a in second)  # never reset, never shown again
    assert User.objects.get(username="learner").check_password(first["learner"].password)


@pytest.mark.django_db
def test_author_group_gets_declared_permissions():
    from django.contrib.auth.models import Group

    demo_accounts_ensure()
    author_perms = set(Group.objects.get(name=AUTHOR).permissions.values_list("codename", flat=True))
    learner_perms = set(Group.objects.get(name=LEARNER).permissions.values_list("codename", flat=True))
    # A learner's grants: their own portfolio, and launching lab runs on their own quota.
    assert learner_perms == {"keep_portfolio", "run_labs"}
    assert {"change_article", "publish_article", "change_glossaryterm", "run_labs"} <= author_perms
    hiring_perms = set(Group.objects.get(name=HIRING_MANAGER).permissions.values_list("codename", flat=True))
    assert "run_labs" not in hiring_perms


def test_unknown_page_is_a_site_styled_404(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"We could not find that page" in response.content
    assert b'id="main"' in response.content


def test_base_layout_is_accessible(client, db):
    html = client.get("/").content.decode()
    for needle in ('class="skip-link" href="#main"', "<header", 'role="banner"', "<main", "<footer", 'lang="en"',
                   "vendor/htmx-2.0.11.min.js", "X-CSRFToken"):
        assert needle in html, needle


def test_openapi_schema_is_valid_openapi_3(client, db):
    response = client.get(reverse("api-schema"))
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/me/" in schema["paths"]


def test_api_docs_use_local_assets(client, db):
    html = client.get(reverse("api-docs")).content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


@pytest.mark.django_db
def test_api_token_auth_and_me(api_client, learner):
    response = api_client.post(reverse("api-token"), {"username": "lena", "password": "pw-12345-x"}, format="json")
    assert response.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION="Token " + response.json()["token"])
    me = api_client.get(reverse("api-me")).json()
    assert me["username"] == "lena" and me["roles"] == [LEARNER]


def test_api_me_requires_auth(api_client, db):
    assert api_client.get(reverse("api-me")).status_code in (401, 403)


def test_healthz_reports_each_service_and_503_without_a_worker(client, db):
    response = client.get(reverse("healthz"))
    body = response.json()
    assert body["checks"]["database"]["ok"] and "pgvector" in body["checks"]["database"]["detail"]
    assert body["checks"]["redis"]["ok"]
    assert body["checks"]["celery"]["ok"] is False  # no worker in this test
    assert response.status_code == 503


def test_healthz_is_green_with_a_real_worker(client, celery_worker_process):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["celery"]["ok"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": "x" * 40, "DJANGO_ALLOWED_HOSTS": "a.example"}, "DEBUG"),
        ({"DJANGO_SECRET_KEY": "", "DJANGO_ALLOWED_HOSTS": "a.example"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "x" * 40, "DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_settings_refuse_unsafe_configuration(env, message):
    import os

    code = "import django; django.setup()"
    child = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env}
    if env.get("DJANGO_SECRET_KEY") == "":
        child.pop("DJANGO_SECRET_KEY")
    result = subprocess.run([sys.executable, "-c", code], env=child, capture_output=True, text=True)
    assert result.returncode != 0
    assert ImproperlyConfigured.__name__ in result.stderr and message in result.stderr


def test_production_settings_turn_on_security_headers_and_secure_cookies():
    import os

    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, s.SECURE_SSL_REDIRECT,"
        " s.SECURE_CONTENT_TYPE_NOSNIFF, s.X_FRAME_OPTIONS)"
    )
    child = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.production",
             "DJANGO_SECRET_KEY": "k" * 50, "DJANGO_ALLOWED_HOSTS": "learn.example"}
    out = subprocess.run([sys.executable, "-c", code], env=child, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True", "True", "True", "DENY"]


def test_settings_without_database_url_explain_what_to_do():
    import os

    child = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    child["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=child,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "make run" in result.stderr


def test_home_links_every_section_it_names(client, db):
    html = client.get("/").content.decode()
    sections = ("curriculum:roadmap", "search", "labs:index", "quiz:index", "career:index")
    for url in map(reverse, sections):
        assert f'href="{url}"' in html
    assert "Coming soon" not in html  # every section the home page names is built


def test_every_page_names_the_mark_as_its_icon_and_favicon_ico_leads_there(client, db):
    html = client.get("/").content.decode()
    assert 'rel="icon"' in html and "img/mark.svg" in html
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("img/mark.svg")
