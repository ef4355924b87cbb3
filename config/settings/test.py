"""Test settings: the same Postgres and Redis kind as production, started by tests/services.py."""

from config.settings.base import *  # noqa: F403
from config.settings.base import REST_FRAMEWORK

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
# Serve static files straight from the source folders (no collectstatic in tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
EMBEDDING_WARM_UP = False
# No warm sandboxes unless a test asks (start_worker(env={"LABS_WARM_POOL": ...})): a pool
# imports PyTorch in every worker process, which the other tests' workers do not need.
LABS_WARM_POOL = env_json("LABS_WARM_POOL", "{}")
# Account rates generous across the suite (the cache outlives each test); tests of the
# throttles set their own small rates.
ACCOUNT_THROTTLE_RATES = {"signup": "1000/minute", "password_change": "1000/minute"}
