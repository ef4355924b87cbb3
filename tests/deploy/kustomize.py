"""A tiny kustomize for the tests: the subset k8s/ uses, so manifests render without a binary.

Supported (and nothing else, on purpose: a kustomization using more fails loudly here):
``resources`` (files, or directories with a kustomization.yaml), ``namespace``, ``labels``
(``pairs`` added to metadata.labels, ``includeSelectors: false``), ``images`` (``newName`` /
``newTag``) and ``patches`` with a ``path`` to a patch naming its target by kind and name.
Patches merge like a strategic merge patch for what k8s/ patches: maps merge key by key,
lists of maps that all have a ``name`` merge item by item on it, other lists are replaced.
When ``kubectl`` is installed the tests also render with ``kubectl kustomize`` and compare.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "RuntimeClass", "PriorityClass"}


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[dict]:
    """The manifests a kustomization directory builds."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    assert not unknown, f"{directory}: the test renderer does not support {sorted(unknown)}"
    docs: list[dict] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        docs += render(target) if target.is_dir() else load_all(target)
    for patch_entry in kustomization.get("patches", []):
        for patch in load_all(directory / patch_entry["path"]):
            matches = [
                d for d in docs if (d["kind"], d["metadata"]["name"]) == (patch["kind"], patch["metadata"]["name"])
            ]
            assert len(matches) == 1, f"patch {patch_entry['path']} matches {len(matches)} resources"
            merged = merge(matches[0], patch)
            docs[docs.index(matches[0])] = merged
    for image in kustomization.get("images", []):
        for container in all_containers(docs):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    for label in kustomization.get("labels", []):
        assert label.get("includeSelectors") is False
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
            if doc["kind"] == "RoleBinding":
                for subject in doc.get("subjects", []):
                    if subject["kind"] == "ServiceAccount":
                        subject["namespace"] = kustomization["namespace"]
    return docs


def merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out = copy.deepcopy(base)
        for item in patch:
            same = [i for i, old in enumerate(out) if old["name"] == item["name"]]
            if same:
                out[same[0]] = merge(out[same[0]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def pod_specs(docs: list[dict]) -> list[tuple[dict, dict]]:
    """(resource, pod spec) for every workload among ``docs``."""
    out = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            out.append((doc, doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "CronJob":
            out.append((doc, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif doc["kind"] == "Pod":
            out.append((doc, doc["spec"]))
    return out


def all_containers(docs: list[dict]) -> list[dict]:
    return [c for _, spec in pod_specs(docs) for c in spec.get("initContainers", []) + spec["containers"]]


def kubectl_render(directory: Path) -> list[dict] | None:
    """``kubectl kustomize`` output, or None when no kubectl/kustomize binary is installed."""
    for argv in (["kubectl", "kustomize"], ["kustomize", "build"]):
        if shutil.which(argv[0]):
            result = subprocess.run([*argv, str(directory)], capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return None
