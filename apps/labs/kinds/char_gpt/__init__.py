"""Train a tiny character-level GPT (runner: gpu_workers/runners/char_gpt.py)."""

from __future__ import annotations

from apps.labs.kinds import LabKind, Param, Target

KIND = LabKind(
    slug="char-gpt",
    runner="char_gpt",
    title="Train a tiny GPT",
    summary="Train a small decoder-only transformer on text, character by character, and watch the "
    "loss fall in real time.",
    params=(
        Param("steps", "int", "Training steps", 200, min=10, max=5000, step=10,
              help="Each step trains on one batch of 32 text snippets. 200 steps took about 17 s on a "
              "2-core CPU; time grows with steps, context length and model size."),
        Param("lr", "float", "Learning rate", 0.003, min=0.0001, max=0.03, step=0.0001,
              help="How far each step moves the weights. Too high and the loss jumps around; too low and it "
              "barely falls."),
        Param("block_size", "int", "Context length", 64, min=8, max=256, step=8,
              help="How many previous characters the model sees when it predicts the next one."),
        Param("n_layer", "int", "Transformer blocks", 2, min=1, max=6,
              help="Depth of the model. More blocks learn more but train slower."),
        Param("n_embd", "choice", "Embedding width", 64, choices=(32, 64, 128, 256),
              help="Size of each character's vector (split across 4 attention heads)."),
        Param("seed", "int", "Random seed", 1337, min=0, max=2**31 - 1,
              help="Fixes initial weights and batches so runs can be compared."),
        Param("threads", "int", "CPU threads", 1, min=1, max=8,
              help="How many CPU threads PyTorch may use on a CPU run. The sandbox caps this at the CPUs it "
              "is given, so asking for more than that changes nothing; on a busy 2-core machine 1 is often "
              "fastest. It matters little on a GPU."),
    ),
    limits={"wall_seconds": 600, "cpu_seconds": 1200, "memory_mb": 2048, "max_processes": 64,
            "max_file_mb": 256, "max_log_bytes": 500_000},
    targets=(Target("val_loss", "<=", 2.5, "Validation loss of at most 2.5"),),
    queue="gpu",
    estimated_minutes=2.0,
    milestone_slug="gpt-from-scratch",
    position=20,
    chart_metrics=("loss", "val_loss"),
    key_metrics=("val_loss", "final_loss"),
    # ~2 s of a cold start: PyTorch itself, and torch._dynamo, which the first optimizer
    # imports (1.2 s of it). A warm sandbox has done both before the job arrives.
    warm_imports=("torch", "torch._dynamo"),
)
