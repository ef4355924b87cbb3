"""Build and register the shipped registry entries: the small causal LM, MiniLM and two datasets.

Idempotent: an entry that is ready, with its files present and matching the recorded
sha256, is skipped; anything else is (re)built. One build at a time per registry folder
(a lock file); `make run` starts this in the background on every start and it returns at
once when everything is ready.
"""

from __future__ import annotations

import fcntl
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.registry.builders import tree_sha256
from apps.registry.models import DatasetEntry, ModelEntry, RegistryEntry
from apps.registry.services import dataset_entry_register, model_entry_register, registry_entry_progress
from apps.registry.shipped import SHIPPED, SMALL_LM, ShippedEntry, build_shipped_entry

Status = RegistryEntry.Status


class Command(BaseCommand):
    help = "Build and register the shipped models and datasets under LABS_MODEL_DIR (skips what is ready)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--only", nargs="+", metavar="SLUG", choices=[e.slug for e in SHIPPED], help="Build only these entries."
        )
        parser.add_argument("--force", action="store_true", help="Rebuild even when an entry is ready.")
        parser.add_argument(
            "--steps", type=int, help=f"Training steps for {SMALL_LM.slug} (default: the shipped size)."
        )
        parser.add_argument(
            "--quiet-if-ready", action="store_true", help="Print nothing when there is nothing to do (for `make run`)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(settings.LABS_MODEL_DIR)
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        entries = [e for e in SHIPPED if not options["only"] or e.slug in options["only"]]
        # The lock sits beside the folder, not in it: sandboxes see the folder at /models.
        with root.with_name(root.name + ".build.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.stdout.write("Another registry build is running on this folder; leaving it to finish.")
                return
            todo = [e for e in entries if options["force"] or not self._is_ready(e, root)]
            if not todo:
                if not options["quiet_if_ready"]:
                    self.stdout.write("Registry: every shipped entry is ready.")
                return
            # Every entry to build shows as "building" at once (the labs page reads it).
            for entry in todo:
                self._register(entry, status=Status.BUILDING, metadata={"progress": 0, "stage": "waiting to start"})
            failed = []
            for entry in todo:
                try:
                    self._build(entry, root, options)
                except Exception as exc:  # one broken entry must not stop the others
                    failed.append(entry.slug)
                    self._row(entry).filter(slug=entry.slug).update(
                        status=Status.BROKEN, metadata={"error": f"{type(exc).__name__}: {exc}"}
                    )
                    self.stderr.write(f"{entry.slug}: build failed: {type(exc).__name__}: {exc}")
            if failed:
                raise CommandError(f"Could not build: {', '.join(failed)} (see above); run the command again to retry.")

    @staticmethod
    def _row(entry: ShippedEntry):
        return (ModelEntry if entry.table == "model" else DatasetEntry).objects

    def _is_ready(self, entry: ShippedEntry, root: Path) -> bool:
        row = self._row(entry).filter(slug=entry.slug).first()
        if row is None or row.status != Status.READY:
            return False
        folder = root / row.path
        recorded = (row.metadata or {}).get("sha256")
        if not folder.is_dir() or not recorded:
            return False
        if tree_sha256(folder) != recorded:
            self.stdout.write(f"{entry.slug}: files differ from the recorded sha256; rebuilding.")
            return False
        return True

    @staticmethod
    def _register(entry: ShippedEntry, *, status: str, metadata: dict[str, Any]) -> RegistryEntry:
        register = model_entry_register if entry.table == "model" else dataset_entry_register
        return register(
            slug=entry.slug, title=entry.title, kind=entry.kind, path=entry.path, status=status, metadata=metadata
        )

    def _build(self, entry: ShippedEntry, root: Path, options: dict[str, Any]) -> None:
        row = self._register(entry, status=Status.BUILDING, metadata={"progress": 0, "stage": "starting"})
        self.stdout.write(f"{entry.slug}: building into {entry.path} ...")
        started = time.monotonic()
        last = {"percent": -1}

        def progress(fraction: float, stage: str) -> None:
            percent = int(fraction * 100)
            if percent != last["percent"]:  # one write per percent at most
                last["percent"] = percent
                registry_entry_progress(row, percent=percent, stage=stage)

        lm_config = {"steps": options["steps"]} if options.get("steps") else None
        meta = build_shipped_entry(entry, root, settings.CONTENT_DIR, lm_config=lm_config, progress=progress)
        meta["build_seconds"] = round(time.monotonic() - started, 1)
        self._register(entry, status=Status.READY, metadata=meta)
        self.stdout.write(f"{entry.slug}: ready in {meta['build_seconds']} s (sha256 {meta['sha256'][:12]}...).")
