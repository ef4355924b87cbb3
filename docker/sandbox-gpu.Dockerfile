# syntax=docker/dockerfile:1.7
# The GPU lab sandbox: the runners with CUDA torch, transformers, peft, bitsandbytes (QLoRA),
# vLLM, ragas and sentence-transformers (requirements/gpu.txt), for GPU lab jobs
# (LABS_KUBERNETES_GPU_IMAGE, or LABS_DOCKER_IMAGE on a GPU worker). The CUDA runtime libraries
# come with the PyPI wheels (CUDA 13 builds); the driver comes from the node through the NVIDIA
# container toolkit / device plugin and must be R580 or newer (docs/deploy.md, "Images").
# Started like the CPU sandbox: read-only root, uid 65534, no network, /work writable,
# /models read-only. Build from the repository root:
#   docker build -f docker/sandbox-gpu.Dockerfile -t genai-labs-sandbox-gpu:latest .
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/gpu.txt /tmp/gpu.txt
COPY requirements/gpu.lock.txt /tmp/gpu.lock.txt
# One resolve for everything (vLLM pins torch exactly; gpu.txt keeps base.txt's pins where
# vLLM allows them), held to the recorded full set (gpu.lock.txt, scripts/gpu_lock.sh);
# `pip check` fails the build on any conflict.
RUN pip install -r /tmp/gpu.txt -c /tmp/gpu.lock.txt \
    && pip check
COPY gpu_workers /opt/app/gpu_workers
RUN python -m compileall -q /opt/app/gpu_workers

FROM ${PYTHON_IMAGE} AS runtime
# gcc and libc6-dev stay in this stage on purpose: Triton (vLLM, torch.compile) compiles its
# small C launcher modules when a model first loads, and fails without a C compiler.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /models /work && chown 65534:65534 /work && chmod 0755 /models
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/app /opt/app
# The root is read-only in a sandbox: every cache goes to the /tmp tmpfs.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    TRITON_CACHE_DIR=/tmp/.cache/triton \
    VLLM_CACHE_ROOT=/tmp/.cache/vllm \
    TORCHINDUCTOR_CACHE_DIR=/tmp/.cache/inductor \
    NUMBA_CACHE_DIR=/tmp/.cache/numba \
    MPLCONFIGDIR=/tmp/.cache/matplotlib \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    RAGAS_DO_NOT_TRACK=true \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /work
USER 65534:65534
HEALTHCHECK NONE
ENTRYPOINT []
CMD ["python", "-B", "-m", "gpu_workers.runners"]
