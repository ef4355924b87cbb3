"""Refuse an inference launch that would not fit, before it is queued, with the estimate.

Kept apart from the kind's definition so the estimate can be read and tested on its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apps.core.errors import ApplicationError
from gpu_workers.runners.llm_inference import PROMPTS, parse_batch_sizes

MEMORY_MB = 4096
#: Python + PyTorch + transformers before any model (measured: ~400 MB peak with a 40k-parameter
#: model on CPU), plus room for the allocator's slack.
RUNTIME_MB = 700
#: The prompts are byte-level tokenized: never more tokens than UTF-8 bytes (+1 for a BOS).
PROMPT_TOKENS_BOUND = max(len(p.encode()) for p in PROMPTS) + 1


def _host_config(path: str) -> dict[str, Any]:
    """config.json of a registry model, read on this host (the sandbox sees it at /models)."""
    from django.conf import settings

    root = Path(getattr(settings, "LABS_MODEL_DIR", "") or "")
    relative = path.removeprefix("/models/") if path.startswith("/models/") else ""
    if not relative or not str(root):
        return {}
    try:
        return json.loads((root / relative / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def _shape(entry: dict[str, Any]) -> dict[str, Any]:
    """n_params, n_layer, kv width, vocab, context and bytes/param from registry metadata,
    filled in from the model's config.json where the metadata is silent."""
    meta = entry.get("meta") or {}
    config = _host_config(str(entry.get("path") or ""))

    def pick(*names: str) -> int | None:
        for source in (meta, config):
            for name in names:
                value = source.get(name)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
        return None

    n_layer = pick("n_layer", "num_hidden_layers")
    width = pick("n_embd", "hidden_size", "d_model")
    heads = pick("n_head", "num_attention_heads")
    kv_heads = pick("num_key_value_heads")
    kv_width = width * kv_heads // heads if (width and heads and kv_heads) else width
    vocab = pick("vocab_size")
    n_params = pick("n_params", "num_parameters")
    if n_params is None and n_layer and width and vocab:
        n_params = 12 * n_layer * width * width + vocab * width
    return {
        "n_params": n_params,
        "n_layer": n_layer,
        "kv_width": kv_width,
        "vocab": vocab or 50_257,
        "context": pick("context_length", "n_positions", "max_position_embeddings"),
    }


def memory_estimate_mb(shape: dict[str, Any], batch: int, max_new_tokens: int) -> dict[str, float]:
    """Peak host memory of the Hugging Face path (the worst case: float32 weights on CPU), by part."""
    n_params = shape["n_params"] or 0
    tokens = PROMPT_TOKENS_BOUND + max_new_tokens
    if shape["n_layer"] and shape["kv_width"]:
        kv_per_token = 2 * shape["n_layer"] * shape["kv_width"] * 4
    else:
        # No shape known: a GPT-like model with depth ~ width/100 (n_params ~ 12 L d^2).
        width = (100 * n_params / 12) ** (1 / 3)
        kv_per_token = 2 * (width / 100) * width * 4
    mb = 1024 * 1024
    parts = {
        "runtime": float(RUNTIME_MB),
        "weights": n_params * 4 / mb,
        "kv_cache": kv_per_token * tokens * batch / mb,
        # Prefill logits over the whole prompt, and a second copy while sampling.
        "logits": 2 * batch * PROMPT_TOKENS_BOUND * shape["vocab"] * 4 / mb,
    }
    parts["total"] = sum(parts.values())
    return {k: round(v, 1) for k, v in parts.items()}


def preflight(params: dict[str, Any], resolved: dict[str, Any]) -> None:
    """Refuse what would not fit: generation longer than the context, or more memory than the limit."""
    entry = resolved.get("model")
    if not isinstance(entry, dict):
        return  # no registry yet: the runner checks the model itself
    shape = _shape(entry)
    name = entry.get("slug") or "this model"
    max_new = int(params.get("max_new_tokens", 32))
    if shape["context"] and max_new >= shape["context"]:
        raise ApplicationError(
            f"Max new tokens ({max_new}) must be below {name}'s context length of {shape['context']} tokens "
            "(the prompt needs room too): choose fewer new tokens.",
            field="params.max_new_tokens",
        )
    if not shape["n_params"]:
        return  # nothing to size it by; the sandbox's memory limit still applies
    batch = parse_batch_sizes(params.get("batch_sizes", "1"))[-1]
    estimate = memory_estimate_mb(shape, batch, max_new)
    if estimate["total"] > MEMORY_MB:
        raise ApplicationError(
            f"{name} ({shape['n_params'] / 1e6:.1f}M parameters) at batch size {batch} with {max_new} new tokens "
            f"needs about {estimate['total']:.0f} MB (weights {estimate['weights']:.0f} MB, KV cache "
            f"{estimate['kv_cache']:.0f} MB, logits {estimate['logits']:.0f} MB, "
            f"runtime {estimate['runtime']:.0f} MB); "
            f"this lab's sandbox has {MEMORY_MB} MB. Choose smaller batch sizes, fewer new tokens, or a smaller model.",
            field="params.batch_sizes",
        )
