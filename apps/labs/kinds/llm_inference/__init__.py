"""Measure LLM inference: time to first token, tokens/s and throughput against batch size,
and what sampling settings do to the words (runner: gpu_workers/runners/llm_inference.py).

``preflight`` (preflight.py) refuses a launch whose model, batch and generation length
would not fit in the sandbox's memory, with the estimate, before anything is queued.
"""

from __future__ import annotations

from apps.labs.kinds import LabKind, Param, Target
from apps.labs.kinds.llm_inference.preflight import MEMORY_MB, preflight
from gpu_workers.runners.llm_inference import BATCH_CHOICES, ENGINES

KIND = LabKind(
    slug="llm-inference",
    runner="llm_inference",
    title="Measure LLM inference",
    summary="Load a language model from the registry and measure time to first token, tokens per second "
    "and throughput as the batch grows, then see what temperature, top-p and top-k do to its answers.",
    params=(
        Param("model", "model", "Model", "zth-gpt2-small", registry_kind="causal-lm",
              help="A causal language model from the registry. The small one is trained on this site's "
              "curriculum; GPU nodes may offer larger checkpoints."),
        Param("batch_sizes", "choice", "Batch sizes to sweep", "1,2,4", choices=BATCH_CHOICES,
              help="Each batch size answers every prompt once, in batches of that size. Bigger batches "
              "share the work of each decoding step, so throughput rises while each request waits longer."),
        Param("max_new_tokens", "int", "Max new tokens", 32, min=1, max=256,
              help="How many tokens each answer may add. Generation stops earlier at an end-of-text token."),
        Param("temperature", "float", "Temperature", 0.8, min=0.0, max=2.0, step=0.05,
              help="Divides the logits before sampling: below 1 sharpens the distribution, above 1 flattens "
              "it. 0 means greedy: always the most likely token, so the same prompt gives the same answer."),
        Param("top_p", "float", "Top-p", 0.95, min=0.05, max=1.0, step=0.05,
              help="Nucleus sampling: keep the smallest set of tokens whose probabilities add up to p. "
              "1 keeps them all."),
        Param("top_k", "int", "Top-k", 50, min=0, max=500,
              help="Keep only the k most likely tokens before sampling. 0 turns it off."),
        Param("seed", "int", "Random seed", 1234, min=0, max=2**31 - 1,
              help="Fixes the random draws, so the same settings and seed give the same answers."),
        Param("engine", "choice", "Engine", "auto", choices=ENGINES,
              help="auto runs vLLM when the node has a CUDA GPU and vLLM installed, Hugging Face generate "
              "otherwise. hf forces generate (to compare the two on the same prompts); vllm fails without a GPU."),
        Param("threads", "int", "CPU threads", 1, min=1, max=8,
              help="PyTorch threads on CPU, capped by the sandbox's CPU share."),
    ),
    limits={"wall_seconds": 600, "cpu_seconds": 1200, "memory_mb": MEMORY_MB, "max_processes": 256,
            "max_file_mb": 256, "max_log_bytes": 500_000},
    targets=(
        Target("tokens_per_s", ">", 0, "Generates tokens (tokens/s above 0)"),
        Target("greedy_repeatable", ">=", 1, "Greedy decoding (temperature 0) repeats its answers exactly"),
    ),
    queue="gpu",
    # Defaults on the shipped small model (1.35M parameters): 14 s in bubblewrap on a 2-core CPU.
    estimated_minutes=1.0,
    position=60,
    chart_metrics=("throughput_tokens_per_s", "tokens_per_s", "ttft_ms"),
    key_metrics=("tokens_per_s", "ttft_ms", "throughput_tokens_per_s"),
    warm_imports=("torch", "transformers"),
    preflight=preflight,
)
