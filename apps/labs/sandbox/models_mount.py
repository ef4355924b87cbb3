"""The registry folder (``settings.LABS_MODEL_DIR``, apps/registry) that sandboxes see read-only at ``/models``.

Only that folder is bound, and never a folder that holds the platform's own data: a
``LABS_MODEL_DIR`` of ``/``, the data dir, the code or the work root would hand jobs the
database, the credential keys or other learners' work, so the backend refuses to start
(:func:`model_dir_problem`) instead of binding it. Importing this module does not need Django.
"""

from __future__ import annotations

import os
from pathlib import Path

MODELS_MOUNT = "/models"


def _settings_paths() -> tuple[Path | None, list[Path]]:
    """(LABS_MODEL_DIR, folders it must not contain) from Django settings, when configured."""
    try:
        from django.conf import settings
    except ImportError:
        return None, []
    if not settings.configured:
        return None, []
    model_dir = getattr(settings, "LABS_MODEL_DIR", None)
    protected = [getattr(settings, name, None) for name in
                 ("BASE_DIR", "DATA_DIR", "LABS_WORK_ROOT", "CREDENTIALS_KEY_DIR", "MEDIA_ROOT")]
    return (Path(model_dir) if model_dir else None), [Path(p) for p in protected if p]


def model_dir_option(value: str | os.PathLike | None) -> Path | None:
    """A backend's ``model_dir`` option: ``"auto"`` means ``settings.LABS_MODEL_DIR``; None/"" no mount."""
    if value == "auto":
        return _settings_paths()[0]
    return Path(value) if value else None


def model_dir_problem(model_dir: Path | None) -> str | None:
    """Why ``model_dir`` must not be bound into sandboxes, or None (also None when it does not exist)."""
    if model_dir is None or not model_dir.is_dir():
        return None
    real = model_dir.resolve()
    protected = [Path("/"), Path.home(), *(_settings_paths()[1])]
    for folder in protected:
        folder = folder.resolve()
        if real == folder or real in folder.parents:
            return (
                f"LABS_MODEL_DIR ({model_dir}) contains {folder}: sandboxes would see it. Point LABS_MODEL_DIR at a "
                "folder that holds only registry models and datasets (the default is <data dir>/models)."
            )
    return None


def model_dir_to_bind(value: str | os.PathLike | None) -> Path | None:
    """The folder to bind read-only at /models, or None when there is none (yet)."""
    model_dir = model_dir_option(value)
    if model_dir is None or not model_dir.is_dir() or model_dir_problem(model_dir):
        return None
    return model_dir
