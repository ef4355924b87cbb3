# syntax=docker/dockerfile:1.7
# The CPU lab sandbox: only what runs INSIDE a sandbox (gpu_workers/runners and the packages
# they import, gpu_workers/runners/requirements.txt; no Django, no secrets). The docker backend
# (LABS_DOCKER_IMAGE) and the kubernetes backend (LABS_KUBERNETES_IMAGE) start it with a
# read-only root, as uid 65534, no network, the job's folder at /work (writable) and the model
# registry at /models (read-only). Build from the repository root:
#   docker build -f docker/sandbox-cpu.Dockerfile -t genai-labs-sandbox-cpu:latest .
# The base image is pinned to a patch release; pin it by digest too in production
# (--build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU wheels: an unpinned index would pull torch's multi-GB CUDA build.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY gpu_workers/runners/requirements.txt /tmp/runner-requirements.txt
RUN pip install --extra-index-url "$TORCH_INDEX" -r /tmp/runner-requirements.txt \
    && pip check
COPY gpu_workers /opt/app/gpu_workers
RUN python -m compileall -q /opt/app/gpu_workers

FROM ${PYTHON_IMAGE} AS runtime
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/app /opt/app
# Mount points: /models (registry, read-only) and /work (the job's folder, the one writable place
# besides the /tmp tmpfs). /work belongs to the sandbox user for runtimes that do not bind it.
RUN mkdir -p /models /work && chown 65534:65534 /work && chmod 0755 /models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/.cache/matplotlib \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    RAGAS_DO_NOT_TRACK=true \
    DO_NOT_TRACK=1
WORKDIR /work
USER 65534:65534
# A sandbox is a one-shot job watched by its worker, not a service.
HEALTHCHECK NONE
ENTRYPOINT []
CMD ["python", "-B", "-m", "gpu_workers.runners"]
