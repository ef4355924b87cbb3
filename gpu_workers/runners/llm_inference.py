"""The LLM inference lab: how fast a causal LM answers, and what sampling does to its words.

Model: a registry entry, mounted read-only; ``params["model"]`` is the resolved entry
(``{"slug", "kind", "path": "/models/...", "meta"}``) or, for local runs, a directory path.
It must be a Hugging Face ``save_pretrained`` directory. Nothing is downloaded.

Engine: vLLM when the sandbox has a CUDA GPU and ``vllm`` imports (``engine="auto"``),
else Hugging Face ``generate``. ``engine="hf"`` / ``"vllm"`` force one (vLLM without a GPU
is an error that says so). The result says which one ran.

params: ``model``, ``batch_sizes`` ("1,2,4"), ``max_new_tokens`` (32), ``temperature``
(0.8), ``top_p`` (0.95), ``top_k`` (50; 0 = off), ``seed`` (1234), ``engine`` ("auto"),
``threads`` (1; capped by the sandbox's OMP_NUM_THREADS).

What it measures, on the fixed prompt set below (:data:`PROMPTS`):

1. A sweep over batch sizes with your sampling settings. For each batch size ``b`` every
   prompt is answered once in batches of ``b`` (at least one full batch): time to first
   token (``ttft_ms``, the prefill plus one step), per-request speed (``tokens_per_s``),
   and throughput over the batch (``throughput_tokens_per_s``), each a metric event with
   ``step = b`` so the page can chart them against batch size.
2. Sampling settings side by side (greedy, yours, and a hot unrestricted one) on the same
   prompts: sample outputs, distinct-token ratios (distinct-1 / distinct-2), and whether
   repeating a setting with the same seed gives the same words (``greedy_repeatable``,
   ``seeded_repeatable``: 1 or 0).

Writes ``inference_report.json`` (every measurement, every output, environment) as an
artifact; the result records engine, device, library versions, runner version and seed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from gpu_workers.runners.protocol import Emitter, check_ranges, library_versions

RUNNER_NAME = "llm_inference"
RUNNER_SCHEMA = 1
REPORT = "inference_report.json"

#: The fixed prompts: short openings about what the curriculum teaches, varied in length
#: so batches need padding, as real traffic does.
PROMPTS: tuple[str, ...] = (
    "Self-attention lets every token in a sentence",
    "When the learning rate is set too high, training",
    "A retrieval-augmented generation system first searches its documents and then",
    "LoRA adapts a large language model cheaply because",
    "During generation the KV cache saves time by",
    "A tokenizer turns raw text into",
    "To check whether a RAG pipeline retrieves the right passages, you can",
    "Gradient descent changes each weight",
)

BATCH_CHOICES = ("1", "1,2", "1,2,4", "1,2,4,8", "1,4,16")
ENGINES = ("auto", "hf", "vllm")
#: How many outputs per sampling setting go into the result payload (all are in the report).
SHOWN_SAMPLES = 3

LIMITS: dict[str, tuple[float, float]] = {
    "max_new_tokens": (1, 512),
    "temperature": (0.0, 2.0),
    "top_p": (0.05, 1.0),
    "top_k": (0, 1000),
    "seed": (0, 2**31 - 1),
    "threads": (1, 16),
}


def parse_batch_sizes(text: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]`` (sorted, unique, each 1..64)."""
    try:
        sizes = sorted({int(part) for part in str(text).replace(" ", "").split(",") if part})
    except ValueError:
        raise ValueError(f"batch_sizes must be whole numbers separated by commas, e.g. 1,2,4; got {text!r}") from None
    if not sizes or sizes[0] < 1 or sizes[-1] > 64:
        raise ValueError(f"batch_sizes must be between 1 and 64; got {text!r}")
    return sizes


def model_path(raw: Any) -> Path:
    """The model directory from the resolved registry entry (or a plain path)."""
    if isinstance(raw, dict):
        raw = raw.get("path")
    if not raw or not isinstance(raw, str):
        raise ValueError("params.model must be a registry model (resolved to a path under /models)")
    return Path(raw)


def _params(raw: dict) -> dict:
    p = {
        "model": raw.get("model"),
        "batch_sizes": parse_batch_sizes(raw.get("batch_sizes", "1,2,4")),
        "max_new_tokens": int(raw.get("max_new_tokens", 32)),
        "temperature": float(raw.get("temperature", 0.8)),
        "top_p": float(raw.get("top_p", 0.95)),
        "top_k": int(raw.get("top_k", 50)),
        "seed": int(raw.get("seed", 1234)),
        "engine": str(raw.get("engine", "auto")),
        "threads": int(raw.get("threads", 1)),
    }
    check_ranges(p, LIMITS)
    if p["engine"] not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {p['engine']!r}")
    return p


# --- settings compared ------------------------------------------------------------------------


def sampling_settings(p: dict) -> list[dict]:
    """Greedy, the learner's own setting, and a hotter unrestricted one, all at the same seed."""
    hot = round(min(2.0, max(1.2, 2 * p["temperature"])), 2)
    return [
        {"name": "greedy", "temperature": 0.0, "top_p": 1.0, "top_k": 0},
        {"name": "yours", "temperature": p["temperature"], "top_p": p["top_p"], "top_k": p["top_k"]},
        {"name": "hot", "temperature": hot, "top_p": 1.0, "top_k": 0},
    ]


def distinct_ratios(token_lists: list[list[int]]) -> tuple[float, float]:
    """distinct-1 and distinct-2: unique unigrams / bigrams over all of them (0 when none)."""
    unigrams = [t for tokens in token_lists for t in tokens]
    bigrams = [(a, b) for tokens in token_lists for a, b in itertools.pairwise(tokens)]
    d1 = len(set(unigrams)) / len(unigrams) if unigrams else 0.0
    d2 = len(set(bigrams)) / len(bigrams) if bigrams else 0.0
    return round(d1, 4), round(d2, 4)


# --- engines ----------------------------------------------------------------------------------


class Generation:
    """One batch's outcome: token ids per prompt, texts, wall seconds, time to first token."""

    def __init__(self, tokens: list[list[int]], texts: list[str], seconds: float, ttft: float | None):
        self.tokens = tokens
        self.texts = texts
        self.seconds = seconds
        self.ttft = ttft

    @property
    def n_tokens(self) -> int:
        return sum(len(t) for t in self.tokens)


class HFEngine:
    """Hugging Face ``generate``; TTFT from a streamer that timestamps each decoding step."""

    name = "hf"

    def __init__(self, path: Path, device: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar on stderr is noise in the learner's log
        self.torch = torch
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.tokenizer.padding_side = "left"  # decoder-only: new tokens follow the prompt directly
        self.tokenizer.truncation_side = "left"  # a prompt too long keeps its end, next to the answer
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=dtype)
        self.model.to(device).eval()
        self.n_params = sum(t.numel() for t in self.model.parameters())
        self.options = {
            "dtype": str(dtype).removeprefix("torch."),
            "attention": getattr(self.model.config, "_attn_implementation", None),
        }
        self.context = _context_length(self.model.config)

    def generate(self, prompts: list[str], setting: dict, max_new_tokens: int, seed: int) -> Generation:
        torch = self.torch
        from transformers import GenerationConfig
        from transformers.generation.streamers import BaseStreamer

        class StepClock(BaseStreamer):
            """``generate`` calls ``put`` with the prompt, then once per new token (whole batch)."""

            def __init__(self) -> None:
                self.times: list[float] = []

            def put(self, value: Any) -> None:
                self.times.append(time.perf_counter())

            def end(self) -> None:
                pass

        enc = self.tokenizer(
            prompts, return_tensors="pt", padding=True, truncation=True,
            max_length=max(1, self.context - max_new_tokens),
        ).to(self.device)
        sampling = setting["temperature"] > 0
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sampling,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            **({"temperature": setting["temperature"], "top_p": setting["top_p"], "top_k": setting["top_k"]}
               if sampling else {}),
        )
        torch.manual_seed(seed)
        clock = StepClock()
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(**enc, generation_config=config, streamer=clock)
        out = out.cpu()  # waits for the GPU
        seconds = time.perf_counter() - started
        ttft = clock.times[1] - started if len(clock.times) > 1 else None
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        tokens = [_until_eos(row, self.tokenizer.eos_token_id) for row in new]
        texts = [self.tokenizer.decode(t, skip_special_tokens=True) for t in tokens]
        return Generation(tokens, texts, seconds, ttft)


class VLLMEngine:
    """vLLM offline ``LLM.generate``; TTFT as the wall time of a one-token generate (prefill + 1)."""

    name = "vllm"

    def __init__(self, path: Path, seed: int, max_batch: int):
        from transformers import AutoTokenizer
        from vllm import LLM

        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.options = {
            # The node's GPU is shared: take a share of it, not vLLM's default 90 %.
            "gpu_memory_utilization": float(os.environ.get("LABS_VLLM_GPU_MEMORY_UTILIZATION", "0.5")),
            # Eager mode: CUDA-graph capture and compilation would cost more than the whole lab.
            "enforce_eager": True,
            # The lab sends the same prompts again and again (the TTFT probe, each batch size):
            # with the prefix cache on, every prefill after the first would be a cache hit.
            "enable_prefix_caching": False,
            "max_num_seqs": max(1, max_batch),
        }
        self.llm = LLM(model=str(path), tokenizer=str(path), seed=seed, dtype="auto", **self.options)
        # Read from the files, not vLLM's internals (which move between releases).
        self.context = _context_length(_read_config(path))
        self.n_params = count_parameters(path)

    def generate(self, prompts: list[str], setting: dict, max_new_tokens: int, seed: int) -> Generation:
        from vllm import SamplingParams

        def params(i: int, max_tokens: int) -> Any:
            return SamplingParams(
                temperature=setting["temperature"],
                top_p=setting["top_p"] if setting["temperature"] > 0 else 1.0,
                top_k=setting["top_k"] if setting["top_k"] and setting["temperature"] > 0 else -1,
                max_tokens=max_tokens,
                seed=seed + i,  # per request: the same prompt gets the same words whatever its batch
            )

        started = time.perf_counter()
        self.llm.generate(prompts, [params(i, 1) for i in range(len(prompts))], use_tqdm=False)
        ttft = time.perf_counter() - started
        started = time.perf_counter()
        outs = self.llm.generate(prompts, [params(i, max_new_tokens) for i in range(len(prompts))], use_tqdm=False)
        seconds = time.perf_counter() - started
        tokens = [list(o.outputs[0].token_ids) for o in outs]
        texts = [o.outputs[0].text for o in outs]
        return Generation(tokens, texts, seconds, ttft)


def fit_prompts(tokenizer: Any, prompts: tuple[str, ...], room: int) -> tuple[list[str], int]:
    """Cut prompts longer than ``room`` tokens to their last ``room`` tokens; returns (prompts, how many were cut)."""
    fitted, cut = [], 0
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if len(ids) > room:
            prompt = tokenizer.decode(ids[-room:])
            cut += 1
        fitted.append(prompt)
    return fitted, cut


def _until_eos(row: list[int], eos: int | None) -> list[int]:
    """Generated ids up to and including the first end-of-text (the rest is padding)."""
    if eos is not None and eos in row:
        return row[: row.index(eos) + 1]
    return row


def _context_length(config: Any) -> int:
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _read_config(path: Path) -> Any:
    class Config:
        def __init__(self, data: dict) -> None:
            self.__dict__.update(data)

    return Config(json.loads((path / "config.json").read_text(encoding="utf-8")))


def count_parameters(path: Path) -> int | None:
    """Parameters in the model's safetensors files, from their headers (no weights loaded)."""
    total = 0
    files = sorted(path.glob("*.safetensors"))
    for file in files:
        with open(file, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size))
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info.get("shape", []):
                    count *= int(dim)
                total += count
    return total or None


def vllm_unavailable_reason() -> str | None:
    """Why vLLM cannot run here, or None when it can."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible in this sandbox"
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # a broken install raises more than ImportError
        return f"vllm does not import ({type(exc).__name__}: {exc})"
    return None


def environment(engine: str, device: str) -> dict:
    """What ran: engine, device, library versions, runner version (hash of this file)."""
    versions = library_versions("torch", "transformers", "tokenizers", "safetensors", "vllm")
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return {
        "engine": engine,
        "device": device,
        "versions": versions,
        "runner_version": f"{RUNNER_NAME}/{RUNNER_SCHEMA}+{digest[:12]}",
    }


# --- the lab ----------------------------------------------------------------------------------


def _batches(prompts: list[str], size: int) -> list[list[str]]:
    """Every prompt once, in batches of ``size``; a batch larger than the set repeats prompts."""
    n = max(len(prompts), size)
    n = -(-n // size) * size
    cycled = [prompts[i % len(prompts)] for i in range(n)]
    return [cycled[i : i + size] for i in range(0, n, size)]


def run(spec: dict, emitter: Emitter) -> None:
    p = _params(spec.get("params", {}))
    path = model_path(p["model"])
    slug = p["model"].get("slug", "") if isinstance(p["model"], dict) else path.name
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"model {slug or path} has no config.json at {path}: the registry entry points at a missing or "
            "incomplete folder. An admin rebuilds the shipped models with `manage.py registry_build`, or puts a "
            "Hugging Face save_pretrained folder under LABS_MODEL_DIR and registers it in the admin (Model and "
            "dataset registry > Models, then 'Verify files and mark ready')."
        )
    # Offline, and caches inside the writable work dir (the rest of the sandbox is read-only).
    work_dir = Path(spec.get("work_dir") or ".")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("XDG_CACHE_HOME", str(work_dir / ".cache"))
    os.environ.setdefault("VLLM_CACHE_ROOT", str(work_dir / ".cache" / "vllm"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(work_dir / ".cache" / "triton"))
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    # One process: the engine core in a child would be one more thing to account for and kill.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

    emitter.progress(0.0, "loading PyTorch")
    import torch

    torch.set_num_threads(max(1, min(p["threads"], int(os.environ.get("OMP_NUM_THREADS", "1")))))
    torch.manual_seed(p["seed"])
    cuda = torch.cuda.is_available()
    device = f"cuda:0 {torch.cuda.get_device_name(0)}" if cuda else "cpu"

    engine_name = p["engine"]
    why_not_vllm = vllm_unavailable_reason() if engine_name in ("auto", "vllm") else None
    if engine_name == "vllm" and why_not_vllm:
        raise RuntimeError(f"engine vllm was asked for but cannot run: {why_not_vllm}. Choose engine auto or hf.")
    if engine_name == "auto":
        engine_name = "hf" if why_not_vllm else "vllm"
        if why_not_vllm:
            emitter.log(f"using Hugging Face generate: {why_not_vllm}")

    emitter.progress(0.05, f"loading model {slug or path.name} with {engine_name}")
    loaded = time.perf_counter()
    if engine_name == "vllm":
        engine: HFEngine | VLLMEngine = VLLMEngine(path, p["seed"], p["batch_sizes"][-1])
    else:
        engine = HFEngine(path, "cuda" if cuda else "cpu")
    load_seconds = time.perf_counter() - loaded
    if p["max_new_tokens"] >= engine.context:
        raise ValueError(
            f"max_new_tokens {p['max_new_tokens']} does not fit in this model's context of {engine.context} "
            "tokens: choose fewer new tokens."
        )
    emitter.progress(0.15, f"model loaded in {load_seconds:.1f} s ({engine.n_params or '?'} parameters)")
    room = engine.context - p["max_new_tokens"]
    prompts, cut = fit_prompts(engine.tokenizer, PROMPTS, room)
    if cut:
        emitter.log(
            f"{cut} of {len(prompts)} prompts keep only their last {room} tokens: the model's context is "
            f"{engine.context} tokens and {p['max_new_tokens']} are kept for the answer"
        )

    yours = sampling_settings(p)[1]
    # Warm-up: the first call pays one-off costs (kernel selection, allocator) that are not speed.
    engine.generate(prompts[:1], yours, min(4, p["max_new_tokens"]), p["seed"])

    sweep = []
    sizes = p["batch_sizes"]
    for index, size in enumerate(sizes):
        runs = [
            engine.generate(batch, yours, p["max_new_tokens"], p["seed"] + i)
            for i, batch in enumerate(_batches(prompts, size))
        ]
        seconds = sum(r.seconds for r in runs)
        tokens = sum(r.n_tokens for r in runs)
        ttfts = [r.ttft for r in runs if r.ttft is not None]
        row = {
            "batch_size": size,
            "batches": len(runs),
            "new_tokens": tokens,
            "seconds": round(seconds, 4),
            "ttft_ms": round(1000 * statistics.median(ttfts), 3) if ttfts else None,
            # What one request sees: its own tokens over its batch's wall time.
            "tokens_per_s": round(statistics.mean(r.n_tokens / size / r.seconds for r in runs), 3),
            "throughput_tokens_per_s": round(tokens / seconds, 3) if seconds > 0 else 0.0,
        }
        sweep.append(row)
        for name in ("ttft_ms", "tokens_per_s", "throughput_tokens_per_s"):
            if row[name] is not None:
                emitter.metric(name, row[name], step=size)
        emitter.progress(
            0.15 + 0.55 * (index + 1) / len(sizes),
            f"batch {size}: {row['throughput_tokens_per_s']:.1f} tokens/s over the batch",
        )

    compare_batch = min(len(prompts), sizes[-1])
    compared = []
    settings = sampling_settings(p)
    for index, setting in enumerate(settings):
        first = _generate_all(engine, prompts, setting, p, compare_batch)
        again = _generate_all(engine, prompts, setting, p, compare_batch)
        d1, d2 = distinct_ratios(first.tokens)
        compared.append({
            **setting,
            "distinct_1": d1,
            "distinct_2": d2,
            "mean_new_tokens": round(first.n_tokens / len(prompts), 2),
            "repeatable": first.tokens == again.tokens,
            "outputs": [{"prompt": pr, "output": text} for pr, text in zip(prompts, first.texts, strict=True)],
        })
        emitter.progress(0.7 + 0.25 * (index + 1) / len(settings), f"sampling setting {setting['name']} done")

    by_name = {row["name"]: row for row in compared}
    first_row = sweep[0]
    best = max(sweep, key=lambda row: row["throughput_tokens_per_s"])
    env = environment(engine_name, device)
    metrics = {
        "tokens_per_s": first_row["tokens_per_s"],
        "ttft_ms": first_row["ttft_ms"],
        "throughput_tokens_per_s": best["throughput_tokens_per_s"],
        "best_batch_size": best["batch_size"],
        "batch_speedup": round(best["throughput_tokens_per_s"] / first_row["throughput_tokens_per_s"], 3)
        if first_row["throughput_tokens_per_s"] else 0.0,
        "distinct_1": by_name["yours"]["distinct_1"],
        "distinct_1_greedy": by_name["greedy"]["distinct_1"],
        "distinct_1_hot": by_name["hot"]["distinct_1"],
        "greedy_repeatable": 1 if by_name["greedy"]["repeatable"] else 0,
        "seeded_repeatable": 1 if by_name["yours"]["repeatable"] else 0,
        "load_seconds": round(load_seconds, 3),
    }
    metrics = {k: v for k, v in metrics.items() if v is not None}
    report = {
        **env,
        "model": {"slug": slug, "path": str(path), "parameters": engine.n_params, "context": engine.context},
        "engine_options": engine.options,
        "seed": p["seed"],
        "params": {k: v for k, v in p.items() if k != "model"},
        "prompts": prompts,
        "sweep": sweep,
        "settings": compared,
        "metrics": metrics,
    }
    (work_dir / REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    emitter.artifact(REPORT, "report")
    emitter.result(
        metrics,
        **env,
        model=slug,
        parameters=engine.n_params,
        seed=p["seed"],
        sweep=sweep,
        # A list, not a dict keyed by name: the database's JSON type does not keep key order.
        samples=[{**row, "outputs": row["outputs"][:SHOWN_SAMPLES]} for row in compared],
    )


def _generate_all(engine: HFEngine | VLLMEngine, prompts: list[str], setting: dict, p: dict, size: int) -> Generation:
    """Every prompt under one setting, in batches of ``size``, seeded the same way each time."""
    tokens: list[list[int]] = []
    texts: list[str] = []
    seconds = 0.0
    for i in range(0, len(prompts), size):
        out = engine.generate(prompts[i : i + size], setting, p["max_new_tokens"], p["seed"] + i)
        tokens += out.tokens
        texts += out.texts
        seconds += out.seconds
    return Generation(tokens, texts, seconds, None)
