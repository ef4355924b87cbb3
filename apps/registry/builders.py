"""Build the registry's local models from text: no downloads, deterministic with a seed.

``build_small_lm`` trains a byte-level BPE tokenizer (``tokenizers``) and a small
GPT-2-style causal LM (``transformers.GPT2LMHeadModel``) and writes both with
``save_pretrained``, so runners load it with ``AutoTokenizer``/``AutoModelForCausalLM``
from ``/models/<path>``. Pure Python (no Django): tests and management commands call it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

EOS = "<|endoftext|>"
#: Files of a built model whose bytes define it (hashed into its sha256).
BUILDER_VERSION = "1"

ProgressFn = Callable[[float, str], None]


def tree_sha256(path: Path) -> str:
    """One sha256 over a folder: every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\x00")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\x00")
    return digest.hexdigest()


def _train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(
        list(texts), vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS
    )
    return tokenizer


def build_small_lm(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    vocab_size: int,
    n_layer: int,
    n_embd: int,
    n_positions: int,
    steps: int,
    seed: int,
    n_head: int | None = None,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Train a tokenizer and a GPT-2-style model on ``texts``; save both into ``out_dir``.

    The folder is written next to ``out_dir`` and renamed into place at the end, so a
    crashed build never leaves a half-written model where a runner would load it.
    ``progress(fraction, stage)`` is called now and then (0.0 .. 1.0). Returns the metadata
    the registry stores: n_params, context_length, vocab_size, losses, sha256...
    Same texts, arguments, seed and hardware give byte-identical files.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("build_small_lm needs some non-empty text to train on.")
    if n_head is None:
        n_head = next(h for h in (4, 2, 1) if n_embd % h == 0)
    report = progress or (lambda fraction, stage: None)
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    report(0.0, "training the tokenizer")
    tokenizer = _train_tokenizer(texts, vocab_size)
    tokenizer.model_max_length = n_positions
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids)
        ids.append(eos_id)
    data = torch.tensor(ids, dtype=torch.long)
    if len(data) < n_positions + 2:
        raise ValueError(f"The text is {len(data)} tokens long: too short for a context of {n_positions}.")

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        loss_type="ForCausalLM",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = GPT2LMHeadModel(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / max(1, steps // 10)) * 0.5 * (1 + math.cos(math.pi * step / steps)),
    )
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    report(0.05, "training the model")
    for step in range(steps):
        starts = torch.randint(0, len(data) - n_positions - 1, (batch_size,), generator=generator)
        batch = torch.stack([data[s : s + n_positions] for s in starts.tolist()])
        loss = model(input_ids=batch, attention_mask=torch.ones_like(batch), labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(round(loss.item(), 4))
        if step % max(1, steps // 50) == 0 or step == steps - 1:
            report(0.05 + 0.9 * (step + 1) / steps, f"training the model (step {step + 1} of {steps})")

    report(0.96, "saving")
    model.eval()
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    n_params = sum(p.numel() for p in model.parameters())
    meta: dict[str, Any] = {
        "architecture": "gpt2",
        "n_params": n_params,
        "context_length": n_positions,
        "vocab_size": len(tokenizer),
        "n_layer": n_layer,
        "n_embd": n_embd,
        "n_head": n_head,
        "dtype": "float32",
        "train_tokens": len(data),
        "steps": steps,
        "seed": seed,
        "first_loss": losses[0],
        "final_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "builder_version": BUILDER_VERSION,
        "library_versions": {
            "torch": torch.__version__.split("+")[0],
            "transformers": _version("transformers"),
            "tokenizers": _version("tokenizers"),
        },
    }
    (staging / "registry.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    make_readable(staging)
    meta["sha256"] = tree_sha256(staging)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    report(1.0, "ready")
    return meta


def copy_model_dir(source: str | Path, out_dir: str | Path) -> str:
    """Copy a model folder (e.g. the MiniLM package's) into the registry; returns its sha256."""
    source, out_dir = Path(source), Path(out_dir)
    if not (source / "config.json").is_file():
        raise FileNotFoundError(f"{source} has no config.json: not a saved model folder.")
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".gitattributes", "__pycache__"))
    make_readable(staging)
    digest = tree_sha256(staging)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    return digest


def safetensors_param_count(path: Path) -> int:
    """Parameters in a .safetensors file, from its header (no weight is loaded)."""
    # The header is 8 bytes of length then JSON: shapes without loading any weight.
    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if size <= 0 or size > 100_000_000:
            return 0
        header = json.loads(handle.read(size))
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in info.get("shape", []):
            count *= int(dim)
        total += count
    return total


def make_readable(path: str | Path) -> None:
    """Folders 0755, files 0644: sandboxes read the registry as another uid (nobody)."""
    root = Path(path)
    root.chmod(0o755)
    for item in root.rglob("*"):
        if item.is_symlink():
            continue
        item.chmod(0o755 if item.is_dir() else 0o644)


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)
