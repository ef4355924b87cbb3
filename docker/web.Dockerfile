# syntax=docker/dockerfile:1.7
# The platform image: web (uvicorn, ASGI), Celery workers, beat and the migrate job all run it
# with different commands. Build from the repository root:
#   docker build -f docker/web.Dockerfile -t genai-labs-web:latest .
# Multi-stage: compilers and headers stay in the build stage; the final stage has the venv,
# the code and the collected static files, and runs as uid 10001.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU torch wheels for the web/worker image (embeddings, the CPU labs); GPU jobs run in the
# sandbox-gpu image, never in this one.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY requirements/base.txt /tmp/requirements/base.txt
RUN pip install --extra-index-url "$TORCH_INDEX" -r /tmp/requirements/base.txt
WORKDIR /app
COPY . /app
# Static files are collected at build time into the image (WhiteNoise serves them). The
# settings need a database and Redis URL to import; nothing connects to them here.
RUN DJANGO_STATIC_ROOT=/app/staticfiles \
    DJANGO_SETTINGS_MODULE=config.settings.base \
    DATABASE_URL=postgres://build:build@127.0.0.1:1/build \
    REDIS_URL=redis://127.0.0.1:1/0 \
    EMBEDDING_WARM_UP=0 \
    python manage.py collectstatic --noinput \
    && python -m compileall -q /app/apps /app/config /app/gpu_workers

FROM ${PYTHON_IMAGE} AS runtime
# Only run-time libraries: libpq for psycopg, tini as PID 1 (signals, zombies).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    PLATFORM_DATA_DIR=/data \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PORT=8000
WORKDIR /app
USER 10001:10001
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=6s --start-period=60s --retries=4 \
    CMD ["python", "docker/healthcheck.py", "web"]
ENTRYPOINT ["tini", "--"]
CMD ["sh", "-c", "exec uvicorn config.asgi:application --host 0.0.0.0 --port ${PORT} --proxy-headers --forwarded-allow-ips '*' --no-access-log --lifespan off"]
