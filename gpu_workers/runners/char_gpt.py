"""The "train a tiny GPT" lab: a character-level transformer in PyTorch.

Data: ``data/ml_prose.txt``, ~32 KB of plain English about machine learning shipped
with the runner (nothing is downloaded). 90 % trains, 10 % validates.

params: ``steps`` (default 200), ``lr`` (3e-3), ``block_size`` (64), ``n_layer`` (2),
``n_embd`` (64), ``n_head`` (4), ``batch_size`` (32), ``seed`` (1337),
``sample_chars`` (200), ``device`` ("auto": CUDA when the sandbox exposes a GPU),
``threads`` (1; capped by the sandbox's OMP_NUM_THREADS).

Emits a ``loss`` metric every step (with its step), ``val_loss`` at a few checkpoints
and at the end, progress every ~5 %, saves ``checkpoint.pt`` (weights + config +
vocabulary) as an artifact, and a result with final losses and a generated sample.
On CPU, 200 steps take a few seconds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gpu_workers.runners.protocol import Emitter, check_ranges

DATA = Path(__file__).parent / "data" / "ml_prose.txt"

LIMITS = {
    "steps": (1, 20_000),
    "block_size": (8, 512),
    "n_layer": (1, 8),
    "n_embd": (16, 512),
    "n_head": (1, 16),
    "batch_size": (1, 512),
    "sample_chars": (0, 2000),
    "threads": (1, 8),
}


def _params(raw: dict) -> dict:
    p = {
        "steps": int(raw.get("steps", 200)),
        "lr": float(raw.get("lr", 3e-3)),
        "block_size": int(raw.get("block_size", 64)),
        "n_layer": int(raw.get("n_layer", 2)),
        "n_embd": int(raw.get("n_embd", 64)),
        "n_head": int(raw.get("n_head", 4)),
        "batch_size": int(raw.get("batch_size", 32)),
        "seed": int(raw.get("seed", 1337)),
        "sample_chars": int(raw.get("sample_chars", 200)),
        "device": str(raw.get("device", "auto")),
        "threads": int(raw.get("threads", 1)),
    }
    check_ranges(p, LIMITS)
    if not 1e-6 <= p["lr"] <= 1.0:
        raise ValueError("lr must be between 1e-6 and 1")
    if p["n_embd"] % p["n_head"]:
        raise ValueError("n_embd must be divisible by n_head")
    return p


def build_model(vocab_size: int, block_size: int, n_layer: int, n_embd: int, n_head: int):
    """A GPT: token + position embeddings, pre-norm blocks with causal attention, LM head."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(n_embd)
            self.qkv = nn.Linear(n_embd, 3 * n_embd)
            self.proj = nn.Linear(n_embd, n_embd)
            self.ln2 = nn.LayerNorm(n_embd)
            self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(n_embd, dim=2)
            q, k, v = (z.view(b, t, n_head, c // n_head).transpose(1, 2) for z in (q, k, v))
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(att.transpose(1, 2).contiguous().view(b, t, c))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(vocab_size, n_embd)
            self.pos = nn.Embedding(block_size, n_embd)
            self.blocks = nn.Sequential(*[Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.head = nn.Linear(n_embd, vocab_size)

        def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
            logits = self.head(self.ln_f(self.blocks(x)))
            if targets is None:
                return logits, None
            return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

        @torch.no_grad()
        def generate(self, idx: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
            for _ in range(n):
                logits, _ = self(idx[:, -block_size:])
                probs = F.softmax(logits[:, -1, :], dim=-1)
                nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)
                idx = torch.cat([idx, nxt], dim=1)
            return idx

    return GPT()


def run(spec: dict, emitter: Emitter) -> None:
    p = _params(spec.get("params", {}))
    emitter.progress(0.0, "loading PyTorch")
    import torch

    # One thread by default: this model's matmuls are too small to gain from more, and
    # OpenMP threads spin-waiting on a busy node made 200 steps take 65 s instead of 7 s.
    torch.set_num_threads(max(1, min(p["threads"], int(os.environ.get("OMP_NUM_THREADS", "1")))))
    torch.manual_seed(p["seed"])
    if p["device"] == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        device = p["device"]

    text = DATA.read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    block = p["block_size"]

    gen = torch.Generator().manual_seed(p["seed"])

    def batch(source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(source) - block - 1, (p["batch_size"],), generator=gen)
        x = torch.stack([source[i : i + block] for i in ix])
        y = torch.stack([source[i + 1 : i + block + 1] for i in ix])
        return x.to(device), y.to(device)

    model = build_model(len(chars), block, p["n_layer"], p["n_embd"], p["n_head"]).to(device)
    n_params = sum(t.numel() for t in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=p["lr"])
    emitter.progress(0.02, f"model has {n_params} parameters; vocabulary of {len(chars)} characters")

    @torch.no_grad()
    def val_loss(batches: int = 8) -> float:
        model.eval()
        losses = [model(*batch(val_data))[1].item() for _ in range(batches)]
        model.train()
        return sum(losses) / len(losses)

    steps = p["steps"]
    every = max(1, steps // 20)
    eval_every = max(1, steps // 4)
    first_loss = last_loss = None
    started = time.monotonic()
    for step in range(1, steps + 1):
        x, y = batch(train_data)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        last_loss = loss.item()
        if first_loss is None:
            first_loss = last_loss
        emitter.metric("loss", round(last_loss, 5), step=step)
        if step % eval_every == 0 and step != steps:
            emitter.metric("val_loss", round(val_loss(), 5), step=step)
        if step % every == 0 or step == steps:
            emitter.progress(step / steps, f"step {step}/{steps}, loss {last_loss:.3f}")
    final_val = val_loss(16)
    emitter.metric("val_loss", round(final_val, 5), step=steps)

    model.eval()
    sample = ""
    if p["sample_chars"]:
        start = torch.tensor([[stoi["\n"]]], dtype=torch.long, device=device)
        out = model.generate(start, p["sample_chars"], torch.Generator().manual_seed(p["seed"]))
        sample = "".join(chars[i] for i in out[0].tolist()[1:])

    checkpoint = Path(spec["work_dir"]) / "checkpoint.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "config": {k: p[k] for k in ("block_size", "n_layer", "n_embd", "n_head")},
            "vocab": chars,
            "steps": steps,
        },
        checkpoint,
    )
    emitter.artifact("checkpoint.pt", "checkpoint", parameters=n_params)
    emitter.result(
        {
            "initial_loss": round(first_loss or 0.0, 5),
            "final_loss": round(last_loss or 0.0, 5),
            "val_loss": round(final_val, 5),
        },
        sample=sample,
        parameters=n_params,
        seconds=round(time.monotonic() - started, 2),
        device=device,
    )
