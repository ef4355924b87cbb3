"""The GPU benchmarks of ``make gpu-check``: each lab's runner on a CUDA GPU, bare, timeboxed.

On one GPU, with the runners started as the worker starts them (``python -m gpu_workers.runners
<runner> spec.json``: each its own process, so vLLM and PyTorch do not share a CUDA context):

1. **LLM inference, vLLM vs Hugging Face ``generate``**: the llm_inference runner twice with the
   same model, prompts (its fixed prompt set), sampling settings, seed and batch sizes, once per
   engine: tokens/s of one request, throughput at the best batch size, time to first token.
2. **char-GPT**: training step time and tokens (characters) trained per second on CUDA.
3. **LoRA**: step time of the lora_finetune runner on CUDA (and QLoRA, 4-bit base weights, when
   bitsandbytes imports).
4. **RAG**: seconds per question of the rag_eval runner with MiniLM on CUDA.

The model is the registry's small GPT-2 built here (``--lm small``: the shipped configuration,
~1.4 M parameters; ``--lm tiny`` for seconds), or ``--model-dir`` names a registry folder with
real checkpoints (``models/<slug>``; ``--model-slug`` picks one). Every step checks the time
left (``--budget`` seconds) and is skipped, said so in the report, when it would not fit.
Writes ``bench/labs/results-gpu.json`` (``--out``) and prints the report.

    python bench/labs/gpu_bench.py [--budget 300] [--lm small|tiny] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from per_lab import build_registry, registry_from_dir, resolved, run_bare, step_ms

RESULTS = Path(__file__).with_name("results-gpu.json")
#: Rough seconds each step needs on one GPU (model load and CUDA start-up included).
NEEDS = {"inference-hf": 40, "inference-vllm": 120, "char-gpt": 40, "lora": 45, "qlora": 60, "rag": 60}


def device_info() -> dict[str, Any]:
    info: dict[str, Any] = {}
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip().splitlines()
        name, driver, memory = (part.strip() for part in out[0].split(","))
        info.update(gpu=name, driver=driver, memory=memory, gpus=len(out))
    except (OSError, subprocess.SubprocessError, IndexError, ValueError) as exc:
        info["nvidia_smi_error"] = str(exc)
    # In a child process: a CUDA context here would hold GPU memory that vLLM then misses.
    probe = (
        "import json, torch; ok = torch.cuda.is_available(); print(json.dumps({'torch': torch.__version__, "
        "'torch_cuda': torch.version.cuda, 'cuda_available': ok, "
        "'device': torch.cuda.get_device_name(0) if ok else None, "
        "'capability': '.'.join(map(str, torch.cuda.get_device_capability(0))) if ok else None}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    info.update(json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else
                {"cuda_available": False, "torch_error": out.stderr[-500:]})
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("vllm", "transformers", "peft", "bitsandbytes", "sentence-transformers", "ragas", "triton"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    info["versions"] = versions
    return info


class Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def allows(self, step: str) -> bool:
        return self.left() >= NEEDS[step]


def attempt(results: dict, key: str, budget: Budget, fn) -> None:
    if not budget.allows(key):
        results[key] = {"skipped": f"out of time ({budget.left():.0f} s left, needs ~{NEEDS[key]} s)"}
        print(f"[gpu_bench] {key}: skipped, out of time", flush=True)
        return
    started = time.monotonic()
    try:
        results[key] = fn(min(budget.left(), 300))
    except Exception as exc:  # one failing step must not hide the others
        results[key] = {"error": f"{type(exc).__name__}: {exc}"[:1500]}
    results[key]["wall_s"] = round(time.monotonic() - started, 1)
    print(f"[gpu_bench] {key}: {json.dumps(results[key])[:300]}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300, help="seconds for all steps together")
    parser.add_argument("--lm", choices=("small", "tiny"), default="small")
    parser.add_argument("--model-dir", type=Path, help="a registry folder (models/<slug>, datasets/<slug>)")
    parser.add_argument("--model-slug", default="zth-gpt2-small")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu: a smoke run of this script's plumbing (no GPU numbers; vLLM fails)")
    args = parser.parse_args(argv)
    budget = Budget(args.budget)

    info = device_info()
    report: dict[str, Any] = {"device": info, "steps": {}}
    if args.device == "cuda" and not info.get("cuda_available"):
        report["error"] = "PyTorch sees no CUDA device: nothing measured"
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(report["error"])
        return report

    if args.model_dir:
        root, entries = args.model_dir.resolve(), registry_from_dir(args.model_dir)
    else:
        from apps.registry.shipped import SMALL_LM_CONFIG

        root, entries = build_registry(SMALL_LM_CONFIG if args.lm == "small" else None)
    report["registry"] = {"root": str(root), "model": args.model_slug,
                          "model_meta": {k: v for k, v in entries[args.model_slug]["meta"].items()
                                         if k in ("n_params", "context_length", "architecture", "vocab_size")}}
    model = resolved(entries, args.model_slug, root)
    steps = report["steps"]
    t = args.threads

    with tempfile.TemporaryDirectory(prefix="labs-gpu-bench-") as tmp:
        scratch = Path(tmp)

        def bare(runner: str, params: dict, timeout: float):
            return run_bare(runner, params, scratch, timeout=timeout, threads=t)

        inference = {"model": model, "batch_sizes": "1,8", "max_new_tokens": 64, "temperature": 0.8,
                     "top_p": 0.95, "top_k": 50, "seed": 1, "threads": t}

        def infer(engine: str):
            def go(timeout: float) -> dict:
                run = bare("llm_inference", {**inference, "engine": engine}, timeout)
                m = run.result["metrics"]
                return {"engine": run.result.get("engine"), "device": run.result.get("device"),
                        "tokens_per_s": m["tokens_per_s"], "throughput_tokens_per_s": m["throughput_tokens_per_s"],
                        "best_batch_size": m["best_batch_size"], "ttft_ms": m["ttft_ms"],
                        "load_seconds": m.get("load_seconds"), "end_to_end_s": round(run.wall_s, 2)}
            return go

        attempt(steps, "inference-hf", budget, infer("hf"))
        attempt(steps, "inference-vllm", budget, infer("vllm"))

        char = {"steps": 300, "batch_size": 64, "block_size": 128, "n_layer": 4, "n_embd": 256, "n_head": 8,
                "seed": 1, "sample_chars": 100, "threads": t, "device": args.device}

        def char_gpt(timeout: float) -> dict:
            run = bare("char_gpt", char, timeout)
            ms = step_ms(run)
            return {"device": run.result.get("device"), "steps": char["steps"], "step_ms": round(ms, 3),
                    "tokens_per_s": round(1000 * char["batch_size"] * char["block_size"] / ms),
                    "final_loss": run.result["metrics"]["final_loss"], "end_to_end_s": round(run.wall_s, 2)}

        attempt(steps, "char-gpt", budget, char_gpt)

        dataset = resolved(entries, "lora-instructions", root) if "lora-instructions" in entries else None
        lora = {"model": model, "dataset": dataset, "steps": 40, "batch_size": 8, "max_seq_len": 128,
                "eval_examples": 16, "samples": 2, "max_new_tokens": 16, "seed": 1, "threads": t,
                "device": args.device}

        def lora_run(qlora: bool):
            def go(timeout: float) -> dict:
                run = bare("lora_finetune", {**lora, "qlora": qlora}, timeout)
                m = run.result["metrics"]
                return {"engine": run.result.get("engine"), "device": run.result.get("device"),
                        "step_ms": round(step_ms(run) or 0.0, 3),
                        "runner_step_ms": round(1000 * m["train_seconds"] / lora["steps"], 3),
                        "trainable_params": m["trainable_params"], "train_loss_drop": m["train_loss_drop"],
                        "end_to_end_s": round(run.wall_s, 2)}
            return go

        if dataset:
            attempt(steps, "lora", budget, lora_run(False))
            import importlib.util

            if importlib.util.find_spec("bitsandbytes"):
                attempt(steps, "qlora", budget, lora_run(True))
            else:
                steps["qlora"] = {"skipped": "bitsandbytes is not installed"}

        def rag(timeout: float) -> dict:
            params = {"dataset": resolved(entries, "rag-curriculum", root),
                      "embedder": resolved(entries, "all-minilm-l6-v2", root),
                      "retriever": "hybrid", "top_k": 5, "seed": 1, "threads": t, "device": args.device}
            run = bare("rag_eval", params, timeout)
            q = run.result.get("questions_total") or 1
            return {"device": run.result.get("device"), "questions": q,
                    "s_per_question": round(run.result["seconds"] / q, 4),
                    "embed_seconds": run.result.get("embed_seconds"),
                    "context_recall": run.result["metrics"].get("context_recall"),
                    "end_to_end_s": round(run.wall_s, 2)}

        if {"rag-curriculum", "all-minilm-l6-v2"} <= set(entries):
            attempt(steps, "rag", budget, rag)

    hf, vl = steps.get("inference-hf", {}), steps.get("inference-vllm", {})
    if hf.get("tokens_per_s") and vl.get("tokens_per_s"):
        report["vllm_over_hf"] = {
            "tokens_per_s": round(vl["tokens_per_s"] / hf["tokens_per_s"], 2),
            "throughput": round(vl["throughput_tokens_per_s"] / hf["throughput_tokens_per_s"], 2),
        }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(summary(report))
    return report


def summary(report: dict) -> str:
    """The short text the gpu-check prints."""
    d, s = report["device"], report.get("steps", {})
    lines = [f"device: {d.get('device') or d.get('gpu')} (capability {d.get('capability')}), driver {d.get('driver')}, "
             f"torch {d.get('torch')} CUDA {d.get('torch_cuda')}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in d.get("versions", {}).items())]

    def line(key: str, text) -> None:
        step = s.get(key)
        if step is None:
            return
        if "error" in step or "skipped" in step:
            lines.append(f"{key}: {step.get('error') or 'skipped: ' + step['skipped']}")
        else:
            lines.append(f"{key}: {text(step)}")

    for key in ("inference-hf", "inference-vllm"):
        line(key, lambda x: f"{x['tokens_per_s']:.1f} tokens/s (batch 1), {x['throughput_tokens_per_s']:.1f} "
                            f"tokens/s at batch {x['best_batch_size']}, first token {x['ttft_ms']:.1f} ms")
    if "vllm_over_hf" in report:
        r = report["vllm_over_hf"]
        lines.append(f"vLLM / HF generate: {r['tokens_per_s']}x (batch 1), {r['throughput']}x (best batch)")
    line("char-gpt", lambda x: f"{x['tokens_per_s']:,} tokens/s, {x['step_ms']:.2f} ms/step")
    line("lora", lambda x: f"{x['step_ms']:.1f} ms/step (runner: {x['runner_step_ms']:.1f})")
    line("qlora", lambda x: f"{x['step_ms']:.1f} ms/step (4-bit base)")
    line("rag", lambda x: f"{x['s_per_question']:.3f} s/question over {x['questions']} questions")
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    done = main()
    failed = done.get("error") or any("error" in step for step in done["steps"].values())
    sys.exit(1 if failed else 0)
