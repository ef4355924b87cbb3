"""Fine-tune a causal LM with LoRA adapters (runner: gpu_workers/runners/lora_finetune.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.core.errors import ApplicationError
from apps.labs.kinds import LabKind, Param, Target
from gpu_workers.runners.lora_finetune import TARGET_PRESETS, memory_estimate_mb

#: The sandbox's memory limit; the preflight refuses what it estimates above it.
MEMORY_MB = 4096


def preflight(params: dict[str, Any], resolved: dict[str, Any]) -> None:
    """Refuse, before queueing, QLoRA where no GPU worker exists and runs that would not fit.

    The estimate (the runner's own :func:`memory_estimate_mb`) sizes the frozen weights from
    the registry entry's parameter count, and the adapters, activations and logits from
    batch size, sequence length, rank and the model's width, depth and vocabulary.
    """
    if params.get("qlora") and not settings.LABS_USE_GPU_QUEUE:
        raise ApplicationError(
            "QLoRA loads the base model in 4-bit with bitsandbytes, which needs a CUDA GPU, and this platform "
            "runs labs on CPU workers only (no GPU queue). Turn QLoRA off to fine-tune in full precision.",
            field="params.qlora",
        )
    entry = resolved.get("model")
    if not isinstance(entry, dict):
        return  # no registry entry to size: the sandbox's memory limit still applies
    meta = entry.get("meta") or {}
    if not meta.get("n_params"):
        return
    context = int(meta.get("context_length") or meta.get("n_positions") or 0)
    seq = int(params["max_seq_len"])
    if context:
        seq = min(seq, context)  # the runner clamps to the model's context the same way
    estimate = memory_estimate_mb(meta, batch_size=int(params["batch_size"]), max_seq_len=seq,
                                  rank=int(params["rank"]), target_modules=str(params["target_modules"]),
                                  qlora=bool(params.get("qlora")))
    if estimate["total"] > MEMORY_MB:
        name = entry.get("slug") or "this model"
        raise ApplicationError(
            f"Fine-tuning {name} ({int(meta['n_params']) / 1e6:.1f}M parameters) with batch size "
            f"{params['batch_size']}, {seq}-token sequences and rank {params['rank']} needs about "
            f"{estimate['total']:.0f} MB (weights {estimate['weights']:.0f} MB, activations "
            f"{estimate['activations']:.0f} MB, logits {estimate['logits']:.0f} MB, adapters and optimiser "
            f"{estimate['adapters']:.0f} MB, runtime {estimate['runtime']:.0f} MB, plus 10 % slack); this lab's "
            f"sandbox has {MEMORY_MB} MB. Choose a smaller batch size or shorter sequences.",
            field="params.batch_size",
        )


KIND = LabKind(
    slug="lora-finetune",
    runner="lora_finetune",
    title="Fine-tune with LoRA",
    summary="Freeze a small language model, train low-rank adapters on instruction/response pairs, and "
    "compare held-out loss and answers before and after.",
    params=(
        Param("model", "model", "Base model", "zth-gpt2-small", registry_kind="causal-lm",
              help="A causal language model from the registry; its weights stay frozen."),
        Param("dataset", "dataset", "Instruction dataset", "lora-instructions", registry_kind="instruction",
              help="Rows of instruction, input and output, split into training and held-out rows."),
        Param("rank", "choice", "LoRA rank (r)", 8, choices=(1, 2, 4, 8, 16, 32, 64),
              help="Inner width of each adapter: A is d x r and B is r x d. Trainable parameters grow "
              "linearly with r."),
        Param("alpha", "int", "LoRA alpha", 16, min=1, max=256,
              help="The adapter's output is scaled by alpha / r; the usual starting point is alpha = 2r."),
        Param("dropout", "float", "Adapter dropout", 0.05, min=0.0, max=0.5, step=0.01,
              help="Dropout on the adapter's input during training only."),
        Param("target_modules", "choice", "Layers to adapt", "c_attn", choices=TARGET_PRESETS,
              help="GPT-2 layer names: c_attn is the attention's query/key/value projection, c_proj the "
              "attention and MLP output projections, c_fc the MLP's first layer; all-linear picks every "
              "linear layer except the output head."),
        Param("steps", "int", "Training steps", 60, min=5, max=1000, step=5,
              help="One optimiser step per batch of training rows. With the defaults on the shipped small "
              "model, a whole run took 8 s on 2 idle CPU cores (4 s of it training) and up to 2 minutes "
              "when the machine was busy."),
        Param("lr", "float", "Learning rate", 0.005, min=0.00001, max=0.05, step=0.00001,
              help="LoRA tolerates larger rates than full fine-tuning, since only the adapters move."),
        Param("batch_size", "int", "Batch size", 8, min=1, max=32,
              help="Rows per step. Memory grows with batch size x sequence length."),
        Param("max_seq_len", "choice", "Max sequence length", 128, choices=(32, 64, 128, 256, 512),
              help="Prompt plus response, in tokens; longer rows are cut (capped at the model's context)."),
        Param("seed", "int", "Random seed", 1234, min=0, max=2**31 - 1,
              help="Fixes the adapters' initial values, dropout and batch order: the same seed gives the "
              "same numbers."),
        Param("qlora", "bool", "QLoRA (4-bit base model)", False,
              help="Load the frozen model in 4-bit NF4 with bitsandbytes. Needs a CUDA GPU worker."),
    ),
    limits={"wall_seconds": 900, "cpu_seconds": 1800, "memory_mb": MEMORY_MB, "max_processes": 64,
            "max_file_mb": 256, "max_log_bytes": 500_000},
    targets=(
        Target("train_loss_drop", ">", 0, "Training loss falls"),
        Target("eval_loss_delta", "<", 0, "Held-out loss is lower after fine-tuning than before"),
    ),
    queue="gpu",
    estimated_minutes=2.0,
    milestone_slug="specialization-project",
    position=40,
    chart_metrics=("loss", "eval_loss"),
    key_metrics=("eval_loss_after", "eval_perplexity_after", "trainable_percent"),
    warm_imports=("torch", "torch._dynamo", "transformers", "peft"),
    preflight=preflight,
)
