# syntax=docker/dockerfile:1.7
# The CPU lab sandbox: only what runs INSIDE a sandbox (gpu_workers/runners, no Django, no
# secrets). The docker backend (LABS_DOCKER_IMAGE) and the kubernetes backend
# (LABS_KUBERNETES_IMAGE) start it read-only, as uid 65534, with /work mounted, no network.
#   docker build -f docker/sandbox-cpu.Dockerfile -t genai-labs-sandbox-cpu:latest .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY gpu_workers/runners/requirements.txt /tmp/runner-requirements.txt
RUN pip install --extra-index-url "$TORCH_INDEX" -r /tmp/runner-requirements.txt
COPY gpu_workers /opt/app/gpu_workers
RUN python -m compileall -q /opt/app/gpu_workers

FROM ${PYTHON_IMAGE} AS runtime
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/app /opt/app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1
WORKDIR /work
USER 65534:65534
# A sandbox is a one-shot job watched by its worker, not a service.
HEALTHCHECK NONE
ENTRYPOINT []
CMD ["python", "-B", "-m", "gpu_workers.runners"]
