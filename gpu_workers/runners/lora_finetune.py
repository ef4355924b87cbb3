"""The LoRA fine-tune lab: PEFT LoRA adapters on a causal LM from the model registry.

Inputs (both mounted read-only from the registry at ``/models``; nothing is downloaded):
``params["model"]``: ``{"slug", "path", "meta"}`` of a Hugging Face ``save_pretrained``
directory (config, weights, tokenizer); ``params["dataset"]``: the same for an instruction
dataset. The dataset is JSON Lines, one object per row with ``instruction``, ``input``
(may be empty) and ``output``; the split is either two files (``train.jsonl`` and
``heldout.jsonl``, or ``test``/``eval``/``validation``), or one file whose rows carry a
``split`` column (``train`` / ``heldout``). A bad row stops the job naming its file, row
and column. A plain string instead of either dict is taken as the path (local use).

params (validated by the lab's schema before they get here; re-checked defensively):
``rank`` (8), ``alpha`` (16), ``dropout`` (0.05), ``target_modules`` ("c_attn"; a comma
list, or "all-linear"), ``steps`` (60), ``lr`` (5e-3), ``seed`` (1234), ``max_seq_len``
(128), ``batch_size`` (8), ``qlora`` (false: 4-bit base weights, CUDA + bitsandbytes only),
``eval_examples`` (32), ``samples`` (3), ``max_new_tokens`` (40), ``device`` ("auto"),
``threads`` (0 = what the sandbox allows).

Training is supervised fine-tuning on ``### Instruction / ### Input / ### Response``
prompts with the loss on the response tokens only. Only the adapter matrices train; the
runner checks that before the first step. Emits trainable/total parameters, a ``loss``
metric every step, ``eval_loss`` on held-out rows before, during and after training,
before/after held-out loss and perplexity, the loss on a fixed slice of training rows before
and after (``train_loss_drop``), greedy generations before vs after (``generations.json``
and the result), the adapter (``adapter/``), library versions, device and runner version.
Same params and seed give the same numbers on the same hardware.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import resource
import time
from pathlib import Path
from typing import Any

from gpu_workers.runners.protocol import Emitter, check_ranges, library_versions

RUNNER_VERSION = "1.0"

#: Target-module presets offered by the lab (GPT-2 names), plus PEFT's architecture-agnostic one.
TARGET_PRESETS = ("c_attn", "c_attn,c_proj", "c_attn,c_proj,c_fc", "all-linear")
REQUIRED_COLUMNS = ("instruction", "input", "output")
HELDOUT_NAMES = ("heldout", "test", "eval", "validation")
MAX_DATASET_ROWS = 100_000
MAX_DATASET_BYTES = 200 * 1024 * 1024

LIMITS = {
    "rank": (1, 256),
    "alpha": (1, 1024),
    "steps": (1, 5000),
    "max_seq_len": (16, 4096),
    "batch_size": (1, 128),
    "eval_examples": (1, 1000),
    "samples": (0, 20),
    "max_new_tokens": (1, 512),
    "threads": (0, 64),
}

PROMPT_TEMPLATE = "### Instruction:\n{instruction}\n\n{input_block}### Response:\n"


class LabInputError(ValueError):
    """Bad input the learner or the admin can fix (dataset rows, a missing model, QLoRA without a
    GPU): reported as the job's error without a traceback."""


# --- parameters ----------------------------------------------------------------------------------


def _entry(raw: Any, what: str) -> dict:
    """The registry entry the worker resolved (``{"slug", "path", "meta"}``), or a bare path."""
    if isinstance(raw, str) and raw:
        return {"slug": Path(raw).name, "path": raw, "meta": {}}
    if isinstance(raw, dict) and isinstance(raw.get("path"), str) and raw["path"]:
        return {"slug": str(raw.get("slug") or Path(raw["path"]).name), "path": raw["path"],
                "meta": raw.get("meta") if isinstance(raw.get("meta"), dict) else {}}
    raise LabInputError(
        f"No {what} was given to the runner (params.{what} must name a registry entry). "
        f"An admin registers {what}s in the admin's Registry section."
    )


def target_modules_list(value: str) -> list[str] | str:
    """"c_attn,c_proj" -> ["c_attn", "c_proj"]; "all-linear" stays the string PEFT expects."""
    value = str(value).strip()
    if value == "all-linear":
        return value
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", n) for n in names):
        raise LabInputError(
            f"target_modules must be a comma-separated list of module names or 'all-linear'; got {value!r}."
        )
    return names


def _params(raw: dict) -> dict:
    p = {
        "model": _entry(raw.get("model"), "model"),
        "dataset": _entry(raw.get("dataset"), "dataset"),
        "rank": int(raw.get("rank", 8)),
        "alpha": int(raw.get("alpha", 16)),
        "dropout": float(raw.get("dropout", 0.05)),
        "target_modules": str(raw.get("target_modules", "c_attn")),
        "steps": int(raw.get("steps", 60)),
        "lr": float(raw.get("lr", 5e-3)),
        "seed": int(raw.get("seed", 1234)),
        "max_seq_len": int(raw.get("max_seq_len", 128)),
        "batch_size": int(raw.get("batch_size", 8)),
        "qlora": bool(raw.get("qlora", False)),
        "eval_examples": int(raw.get("eval_examples", 32)),
        "samples": int(raw.get("samples", 3)),
        "max_new_tokens": int(raw.get("max_new_tokens", 40)),
        "device": str(raw.get("device", "auto")),
        "threads": int(raw.get("threads", 0)),
    }
    check_ranges(p, LIMITS, LabInputError)
    if not 0.0 <= p["dropout"] < 1.0:
        raise LabInputError(f"dropout must be at least 0 and below 1; got {p['dropout']}.")
    if not 1e-7 <= p["lr"] <= 1.0:
        raise LabInputError(f"lr must be between 1e-7 and 1; got {p['lr']}.")
    if p["device"] not in ("auto", "cpu", "cuda"):
        raise LabInputError(f"device must be auto, cpu or cuda; got {p['device']!r}.")
    target_modules_list(p["target_modules"])
    return p


# --- memory estimate (shared with the lab kind's preflight) --------------------------------------


def _architecture(meta: dict) -> tuple[int, int, int, int]:
    """(hidden width, layers, attention heads, vocabulary) from registry metadata, guessed from
    the parameter count where missing (a GPT-2-style block holds ~12 x width^2 parameters)."""
    n_params = int(meta.get("n_params") or 0)
    layers = int(meta.get("n_layer") or meta.get("num_hidden_layers") or 0) or 12
    width = int(meta.get("n_embd") or meta.get("hidden_size") or 0)
    if not width:
        width = max(64, int(math.sqrt(max(n_params, 1) / (12 * layers))))
    heads = int(meta.get("n_head") or meta.get("num_attention_heads") or 0) or max(1, width // 64)
    vocab = int(meta.get("vocab_size") or 0) or 50_257
    return width, layers, heads, vocab


def memory_estimate_mb(meta: dict, *, batch_size: int, max_seq_len: int, rank: int,
                       target_modules: str = "c_attn", qlora: bool = False) -> dict[str, float]:
    """Peak host memory of one run on CPU, in MB, by part (``total`` included).

    Parts: the libraries (~420 MB resident once torch, transformers and PEFT are imported;
    700 counted), the frozen weights (fp32, or 4-bit for QLoRA), the adapters with their
    gradients and two AdamW moments, what the backward pass keeps per token and layer (~34
    values per hidden unit, and three copies of the attention scores), and the logits over
    the vocabulary (five copies: the output, its shifted slice, log-softmax and their
    gradients), which dominate for small models with big vocabularies. The coefficients are
    fitted to peaks measured on CPU (GPT-2 shapes from 2 x 32 to 12 x 768, vocabularies 300
    to 50k, batch x sequence up to 4096 tokens): 8-19 % above the three large runs, more
    for small ones, where the runtime allowance dominates.
    """
    n_params = int(meta.get("n_params") or 0)
    width, layers, heads, vocab = _architecture(meta)
    targets = target_modules_list(target_modules)
    # Input + output width of each adapted matrix per block (GPT-2 shapes; all-linear = all four).
    per_block = {"c_attn": width + 3 * width, "c_proj": 2 * (2 * width), "c_fc": width + 4 * width}
    names = list(per_block) if targets == "all-linear" else targets
    adapter_params = sum(rank * per_block.get(name, 2 * width) for name in names) * layers
    tokens = batch_size * max_seq_len
    mb = 1024 * 1024
    parts = {
        "runtime": 700.0,
        "weights": n_params * (0.5 if qlora else 4) / mb,
        "adapters": adapter_params * 4 * 4 / mb,  # weights, gradients, AdamW m and v
        "activations": tokens * layers * (34 * width + 3 * heads * max_seq_len) * 4 / mb,
        "logits": tokens * vocab * 4 * 5 / mb,
    }
    parts["total"] = sum(parts.values()) * 1.1  # allocator slack
    return {k: round(v, 1) for k, v in parts.items()}


# --- dataset -------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _read_rows(path: Path, dataset: str) -> list[tuple[int, dict]]:
    """Parse a JSONL file strictly: each non-blank line one object with text columns.

    Every failure names the dataset, file, row (its line number) and column.
    """
    if path.stat().st_size > MAX_DATASET_BYTES:
        raise LabInputError(f"Dataset {dataset}: {path.name} is larger than {MAX_DATASET_BYTES // (1024 * 1024)} MB.")
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark is harmless
    rows: list[tuple[int, dict]] = []
    where = f"Dataset {dataset}, {path.name}"
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1]
            column = _column_with_bad_bytes(raw)
            at = f", column {column!r}" if column else f" (byte offset {exc.start})"
            raise LabInputError(
                f"{where}, row {lineno}{at}: not valid UTF-8 (byte 0x{bad.hex()}). Save the file as UTF-8."
            ) from None
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabInputError(
                f"{where}, row {lineno}: not valid JSON ({exc.msg} at character {exc.pos + 1})."
            ) from None
        if not isinstance(row, dict):
            raise LabInputError(
                f"{where}, row {lineno}: expected an object with columns {', '.join(REQUIRED_COLUMNS)}; "
                f"got {_describe(row)}."
            )
        for column in REQUIRED_COLUMNS:
            if column not in row:
                if column == "input":
                    row["input"] = ""
                    continue
                has = ", ".join(repr(c) for c in row) or "none"
                raise LabInputError(
                    f"{where}, row {lineno}: column {column!r} is missing (each row needs "
                    f"{', '.join(repr(c) for c in REQUIRED_COLUMNS)}; it has {has})."
                )
            value = row[column]
            if value is None and column == "input":
                row["input"] = ""
                continue
            if not isinstance(value, str):
                raise LabInputError(f"{where}, row {lineno}, column {column!r}: expected text, got {_describe(value)}.")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise LabInputError(
                    f"{where}, row {lineno}, column {column!r}: not valid Unicode text "
                    f"(lone surrogate \\u{ord(value[exc.start]):04x} at character {exc.start + 1})."
                ) from None
            if column != "input" and not value.strip():
                raise LabInputError(f"{where}, row {lineno}, column {column!r}: is empty.")
        rows.append((lineno, row))
        if len(rows) > MAX_DATASET_ROWS:
            raise LabInputError(f"{where}: more than {MAX_DATASET_ROWS} rows; use a smaller dataset.")
    return rows


def _column_with_bad_bytes(raw: bytes) -> str:
    """Which column of a JSON line holds the invalid UTF-8 bytes ('' if it cannot tell)."""
    try:
        row = json.loads(raw.decode("utf-8", errors="surrogateescape"))
    except ValueError:
        return ""
    if not isinstance(row, dict):
        return ""
    for key, value in row.items():
        if isinstance(value, str) and re.search("[\udc80-\udcff]", value):
            return str(key)
        if isinstance(key, str) and re.search("[\udc80-\udcff]", key):
            return key.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    return ""


def load_dataset(entry: dict) -> tuple[list[dict], list[dict], str]:
    """(train rows, held-out rows, a sentence saying where they came from)."""
    name = entry["slug"]
    root = Path(entry["path"])
    if not root.exists():
        raise LabInputError(
            f"Dataset {name}: nothing at {root}. An admin rebuilds or re-registers it in the Registry."
        )
    files = entry["meta"].get("files") if isinstance(entry["meta"].get("files"), dict) else {}
    if root.is_dir():
        train_file = root / files["train"] if "train" in files else root / "train.jsonl"
        held_name = files.get("heldout") or next(
            (f"{n}.jsonl" for n in HELDOUT_NAMES if (root / f"{n}.jsonl").is_file()), ""
        )
        if train_file.is_file() and held_name and (root / held_name).is_file():
            train = [row for _, row in _read_rows(train_file, name)]
            heldout = [row for _, row in _read_rows(root / held_name, name)]
            source = f"{train_file.name} ({len(train)} rows) and {held_name} ({len(heldout)} rows)"
            return _nonempty(train, heldout, name, source)
        candidates = sorted(root.glob("*.jsonl"))
        if len(candidates) != 1:
            raise LabInputError(
                f"Dataset {name}: expected train.jsonl and heldout.jsonl in {root}, or one .jsonl file with a "
                f"'split' column; found {', '.join(p.name for p in candidates) or 'no .jsonl file'}."
            )
        root = candidates[0]
    rows = _read_rows(root, name)
    train, heldout = [], []
    for lineno, row in rows:
        split = row.get("split", "train")
        if split == "train":
            train.append(row)
        elif split in HELDOUT_NAMES:
            heldout.append(row)
        else:
            raise LabInputError(
                f"Dataset {name}, {root.name}, row {lineno}, column 'split': expected train or heldout; got {split!r}."
            )
    return _nonempty(train, heldout, name, f"{root.name} ({len(train)} train and {len(heldout)} held-out rows)")


def _nonempty(train: list[dict], heldout: list[dict], name: str, source: str) -> tuple[list[dict], list[dict], str]:
    if not train or not heldout:
        raise LabInputError(f"Dataset {name}: needs at least one training and one held-out row; {source}.")
    return train, heldout, source


def prompt_text(row: dict) -> str:
    extra = row.get("input") or ""
    input_block = f"### Input:\n{extra}\n\n" if extra.strip() else ""
    return PROMPT_TEMPLATE.format(instruction=row["instruction"], input_block=input_block)


# --- helpers -------------------------------------------------------------------------------------


def _word_f1(prediction: str, reference: str) -> float:
    """Unigram overlap F1 (SQuAD-style), a rough 'closer to the reference' signal."""
    pred = re.findall(r"\w+", prediction.lower())
    ref = re.findall(r"\w+", reference.lower())
    if not pred or not ref:
        return 0.0
    common: dict[str, int] = {}
    for word in pred:
        common[word] = common.get(word, 0) + 1
    overlap = 0
    for word in ref:
        if common.get(word, 0) > 0:
            overlap += 1
            common[word] -= 1
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _Batches:
    """Tokenizing, padding, loss and greedy generation for instruction rows on one model."""

    def __init__(self, torch: Any, tokenizer: Any, *, device: str, max_len: int, batch_size: int,
                 max_new_tokens: int):
        self.torch, self.tokenizer, self.device = torch, tokenizer, device
        self.max_len, self.batch_size, self.max_new_tokens = max_len, batch_size, max_new_tokens
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (self.eos_id or 0)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode(self, row: dict) -> tuple[list[int], list[int]]:
        """(input ids, labels): the loss counts only the response and its end-of-text token.
        Too long: the response keeps at most half the length, the prompt its end."""
        prompt, answer = self._ids(prompt_text(row)), self._ids(row["output"])
        if self.eos_id is not None:
            answer = [*answer, self.eos_id]
        if len(prompt) + len(answer) > self.max_len:
            answer = answer[: max(1, self.max_len // 2)]
            prompt = prompt[-(self.max_len - len(answer)) :] if len(prompt) + len(answer) > self.max_len else prompt
        return prompt + answer, [-100] * len(prompt) + answer

    def _collate(self, items: list[tuple[list[int], list[int]]]) -> tuple[Any, Any, Any]:
        torch = self.torch
        width = max(len(ids) for ids, _ in items)
        ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for i, (x, y) in enumerate(items):
            ids[i, : len(x)] = torch.tensor(x)
            labels[i, : len(y)] = torch.tensor(y)
            mask[i, : len(x)] = 1
        return ids.to(self.device), labels.to(self.device), mask.to(self.device)

    def loss_sum(self, net: Any, items: list[tuple[list[int], list[int]]]) -> tuple[Any, int]:
        """Sum of per-token cross-entropy over the response tokens, and their count."""
        ids, labels, mask = self._collate(items)
        logits = net(input_ids=ids, attention_mask=mask).logits[:, :-1, :].float()
        target = labels[:, 1:]
        loss = self.torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=-100, reduction="sum"
        )
        return loss, int((target != -100).sum())

    def evaluate(self, net: Any, items: list[tuple[list[int], list[int]]]) -> float:
        """Mean loss per response token over ``items``, dropout off."""
        was_training = net.training
        net.eval()
        total, count = 0.0, 0
        with self.torch.no_grad():
            for start in range(0, len(items), self.batch_size):
                loss, n = self.loss_sum(net, items[start : start + self.batch_size])
                total += float(loss)
                count += n
        net.train(was_training)
        return total / max(count, 1)

    def generate(self, net: Any, rows: list[dict]) -> list[str]:
        """Greedy answers to each row's prompt (deterministic: no sampling)."""
        was_training = net.training
        net.eval()
        answers = []
        with self.torch.no_grad():
            for row in rows:
                prompt = self._ids(prompt_text(row))[-max(1, self.max_len - self.max_new_tokens) :]
                ids = self.torch.tensor([prompt], device=self.device)
                out = net.generate(
                    input_ids=ids, attention_mask=self.torch.ones_like(ids), do_sample=False,
                    max_new_tokens=min(self.max_new_tokens, max(1, self.max_len - len(prompt))),
                    pad_token_id=self.pad_id, eos_token_id=self.eos_id,
                )
                answers.append(self.tokenizer.decode(out[0, len(prompt) :].tolist(), skip_special_tokens=True).strip())
        net.train(was_training)
        return answers


def _attach_lora(model: Any, p: dict, torch: Any) -> tuple[Any, list[str] | str, bool]:
    """Wrap ``model`` with LoRA adapters on the chosen layers: (peft model, targets, fan_in_fan_out)."""
    import peft
    from peft import LoraConfig

    targets = target_modules_list(p["target_modules"])
    try:
        from transformers.pytorch_utils import Conv1D  # GPT-2 stores its linear layers transposed

        conv1d: tuple[type, ...] = (Conv1D,)
    except ImportError:
        conv1d = ()
    fan_in_fan_out = any(
        isinstance(module, conv1d) and (targets == "all-linear" or name.rsplit(".", 1)[-1] in targets)
        for name, module in model.named_modules()
    )
    config = LoraConfig(
        r=p["rank"], lora_alpha=p["alpha"], lora_dropout=p["dropout"], target_modules=targets,
        fan_in_fan_out=fan_in_fan_out, bias="none", task_type="CAUSAL_LM",
    )
    if p["qlora"]:
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    try:
        return peft.get_peft_model(model, config), targets, fan_in_fan_out
    except ValueError as exc:
        if "not found in the base model" not in str(exc) and "Target modules" not in str(exc):
            raise
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                         if isinstance(m, (torch.nn.Linear, *conv1d)) and "." in name})
        raise LabInputError(
            f"Target modules {p['target_modules']!r} do not exist in {p['model']['slug']}; its linear layers are "
            f"{', '.join(linear)} (or choose 'all-linear')."
        ) from None


# --- the run -------------------------------------------------------------------------------------


def run(spec: dict, emitter: Emitter) -> None:
    """Entry point: input errors end the job with their message and no traceback."""
    try:
        train(spec, emitter)
    except LabInputError as exc:
        emitter.log(str(exc))  # not stderr: the job's reason carries the message once, without a traceback
        emitter.result({}, status="error", error=str(exc))
        raise SystemExit(2) from None


def train(spec: dict, emitter: Emitter) -> dict:
    """The whole lab; returns the result payload it emitted (for tests)."""
    started = time.monotonic()
    p = _params(spec.get("params", {}))
    work_dir = Path(spec.get("work_dir") or ".")
    # Inputs first (plain Python): a bad dataset or a missing model fails in a second, not after imports.
    train_rows, heldout_rows, source = load_dataset(p["dataset"])
    dataset_line = f"dataset {p['dataset']['slug']}: {source}"
    model_dir = Path(p["model"]["path"])
    if not (model_dir / "config.json").is_file():
        raise LabInputError(
            f"Model {p['model']['slug']}: no Hugging Face model at {model_dir} (config.json missing). "
            "An admin rebuilds the shipped models with `manage.py registry_build`, or registers a local "
            "checkpoint directory in the admin's model registry and verifies it."
        )
    emitter.progress(0.0, "loading PyTorch, Transformers and PEFT")
    # Everything is local: never look for a hub, never print download bars.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")
    import torch

    threads_cap = int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or (os.cpu_count() or 1)
    torch.set_num_threads(max(1, min(p["threads"] or threads_cap, threads_cap)))
    cuda = torch.cuda.is_available()
    if p["device"] == "cuda" and not cuda:
        raise LabInputError("device 'cuda' was asked for, but this sandbox has no CUDA GPU.")
    device = "cuda" if (cuda and p["device"] != "cpu") else "cpu"
    if device == "cuda":
        # CPU kernels here are deterministic already; on CUDA prefer the deterministic ones.
        torch.use_deterministic_algorithms(True, warn_only=True)
    if p["qlora"]:
        _qlora_check(device)
    device_text = f"cuda:0 {torch.cuda.get_device_name(0)}" if device == "cuda" else "cpu"

    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    versions = library_versions("torch", "transformers", "peft", "tokenizers", "safetensors", "bitsandbytes")
    emitter.log(
        f"lora_finetune runner {RUNNER_VERSION} on {device_text}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    emitter.log(dataset_line)

    emitter.progress(0.02, f"loading model {p['model']['slug']}")
    torch.manual_seed(p["seed"])
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    load_kwargs: dict[str, Any] = {}
    if p["qlora"]:
        load_kwargs = _qlora_load_kwargs(torch)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), **load_kwargs)
    if not p["qlora"]:
        model = model.float().to(device)
    model.config.use_cache = True
    context = int(getattr(model.config, "n_positions", 0) or getattr(model.config, "max_position_embeddings", 0) or 0)
    max_len = min(p["max_seq_len"], context) if context else p["max_seq_len"]
    if max_len < p["max_seq_len"]:
        emitter.log(f"max_seq_len {p['max_seq_len']} is longer than the model's context; using {max_len}")

    lm = _Batches(torch, tokenizer, device=device, max_len=max_len, batch_size=p["batch_size"],
                  max_new_tokens=p["max_new_tokens"])
    train_enc = [lm.encode(r) for r in train_rows]
    eval_enc = [lm.encode(r) for r in heldout_rows[: p["eval_examples"]]]
    # A fixed slice of the training rows, measured before and after: whether the training loss
    # fell, without the batch-to-batch noise of the per-step curve.
    train_probe = train_enc[: p["eval_examples"]]
    sample_rows = heldout_rows[: p["samples"]]

    emitter.progress(0.05, "evaluating the base model on held-out rows")
    before_loss = lm.evaluate(model, eval_enc)
    train_before = lm.evaluate(model, train_probe)
    before_samples = lm.generate(model, sample_rows)
    emitter.metric("eval_loss", round(before_loss, 5), step=0)

    torch.manual_seed(p["seed"])  # the adapters' initial A matrices
    model, targets, fan_in_fan_out = _attach_lora(model, p, torch)

    wrong = [name for name, param in model.named_parameters() if param.requires_grad and "lora_" not in name]
    if wrong:
        raise RuntimeError(f"Only LoRA adapter parameters may train, but these require gradients too: {wrong[:5]}")
    trainable, total = model.get_nb_trainable_parameters()
    if trainable == 0:
        raise RuntimeError("No adapter parameters were created; nothing would train.")
    trainable_percent = 100.0 * trainable / total
    emitter.metric("trainable_params", trainable)
    emitter.metric("total_params", total)
    emitter.metric("trainable_percent", round(trainable_percent, 4))
    estimate = memory_estimate_mb(
        {**p["model"]["meta"], "n_params": total, "vocab_size": int(getattr(model.config, "vocab_size", 0) or 0),
         "n_layer": int(getattr(model.config, "n_layer", 0) or getattr(model.config, "num_hidden_layers", 0) or 0),
         "n_embd": int(getattr(model.config, "n_embd", 0) or getattr(model.config, "hidden_size", 0) or 0),
         "n_head": int(getattr(model.config, "n_head", 0) or getattr(model.config, "num_attention_heads", 0) or 0)},
        batch_size=p["batch_size"], max_seq_len=max_len, rank=p["rank"],
        target_modules=p["target_modules"], qlora=p["qlora"],
    )
    emitter.progress(
        0.1, f"{trainable:,} of {total:,} parameters train ({trainable_percent:.2f} %); "
        f"{len(train_enc)} training rows, {len(eval_enc)} held-out rows"
    )

    optimizer = torch.optim.AdamW([t for t in model.parameters() if t.requires_grad], lr=p["lr"], weight_decay=0.0)
    gen = torch.Generator().manual_seed(p["seed"])
    order: list[int] = []
    model.train()
    steps = p["steps"]
    every = max(1, steps // 20)
    eval_every = max(1, steps // 4)
    losses: list[float] = []
    train_started = time.monotonic()
    for step in range(1, steps + 1):
        if len(order) < p["batch_size"]:
            order += torch.randperm(len(train_enc), generator=gen).tolist()
        batch, order = order[: p["batch_size"]], order[p["batch_size"] :]
        loss_sum, n = lm.loss_sum(model, [train_enc[i] for i in batch])
        loss = loss_sum / max(n, 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([t for t in model.parameters() if t.requires_grad], 1.0)
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise LabInputError(f"The loss became {value} at step {step}; lower the learning rate.")
        losses.append(value)
        emitter.metric("loss", round(value, 5), step=step)
        if step % eval_every == 0 and step != steps:
            emitter.metric("eval_loss", round(lm.evaluate(model, eval_enc), 5), step=step)
        if step % every == 0 or step == steps:
            emitter.progress(0.1 + 0.8 * step / steps, f"step {step}/{steps}, loss {value:.3f}")
    train_seconds = time.monotonic() - train_started

    emitter.progress(0.92, "evaluating the fine-tuned model")
    after_loss = lm.evaluate(model, eval_enc)
    train_after = lm.evaluate(model, train_probe)
    emitter.metric("eval_loss", round(after_loss, 5), step=steps)
    after_samples = lm.generate(model, sample_rows)

    generations = [
        {"instruction": row["instruction"], "input": row.get("input") or "", "reference": row["output"],
         "before": b, "after": a}
        for row, b, a in zip(sample_rows, before_samples, after_samples, strict=True)
    ]
    (work_dir / "generations.json").write_text(json.dumps(
        {"model": p["model"]["slug"], "dataset": p["dataset"]["slug"], "decoding": "greedy",
         "max_new_tokens": p["max_new_tokens"], "samples": generations}, indent=2, ensure_ascii=False))
    emitter.artifact("generations.json", "generations", samples=len(generations))
    adapter_dir = work_dir / "adapter"
    model.save_pretrained(str(adapter_dir))
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        if (adapter_dir / name).is_file():
            emitter.artifact(f"adapter/{name}", "adapter")

    window = max(1, min(5, len(losses) // 4 or 1))
    initial, final = sum(losses[:window]) / window, sum(losses[-window:]) / window
    f1_before = [_word_f1(g["before"], g["reference"]) for g in generations]
    f1_after = [_word_f1(g["after"], g["reference"]) for g in generations]
    metrics = {
        "initial_loss": round(initial, 5),
        "final_loss": round(final, 5),
        "train_loss_before": round(train_before, 5),
        "train_loss_after": round(train_after, 5),
        "train_loss_drop": round(train_before - train_after, 5),
        "eval_loss_before": round(before_loss, 5),
        "eval_loss_after": round(after_loss, 5),
        "eval_loss_delta": round(after_loss - before_loss, 5),
        "eval_perplexity_before": round(math.exp(min(before_loss, 50.0)), 3),
        "eval_perplexity_after": round(math.exp(min(after_loss, 50.0)), 3),
        "trainable_params": trainable,
        "total_params": total,
        "trainable_percent": round(trainable_percent, 4),
        "train_seconds": round(train_seconds, 2),
        "steps_per_second": round(steps / train_seconds, 3) if train_seconds > 0 else 0.0,
        "peak_memory_mb": _peak_rss_mb(),
        "memory_estimate_mb": estimate["total"],
    }
    if generations:
        metrics["sample_f1_before"] = round(sum(f1_before) / len(f1_before), 4)
        metrics["sample_f1_after"] = round(sum(f1_after) / len(f1_after), 4)
    payload = {
        "metrics": metrics,
        "generations": generations,
        "model": {"slug": p["model"]["slug"], "path": str(model_dir)},
        "dataset": {"slug": p["dataset"]["slug"], "train_rows": len(train_enc), "eval_rows": len(eval_enc)},
        "lora": {"rank": p["rank"], "alpha": p["alpha"], "dropout": p["dropout"], "target_modules": targets,
                 "fan_in_fan_out": fan_in_fan_out, "qlora": p["qlora"]},
        "max_seq_len": max_len,
        "seed": p["seed"],
        "device": device_text,
        "engine": "peft-lora-4bit" if p["qlora"] else "peft-lora",
        "versions": versions,
        "runner": "lora_finetune",
        "runner_version": RUNNER_VERSION,
        "runner_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "threads": torch.get_num_threads(),
        "memory_estimate_mb": estimate,
        "seconds": round(time.monotonic() - started, 2),
    }
    emitter.result(**payload)
    return payload


def _qlora_check(device: str) -> None:
    if device != "cuda":
        raise LabInputError(
            "QLoRA loads the base model in 4-bit with bitsandbytes, which needs a CUDA GPU; this sandbox has "
            "none. Turn QLoRA off to fine-tune with full-precision base weights."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise LabInputError(
            "QLoRA needs the bitsandbytes library, which this sandbox image does not include. Turn QLoRA off, "
            "or ask an admin to use the GPU image with bitsandbytes installed."
        ) from None


def _qlora_load_kwargs(torch) -> dict[str, Any]:
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        ),
        "device_map": {"": 0},
    }
