"""Which environment variables the platform reads (to check compose and k8s name only those)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# env("NAME" ...), env_int("NAME", ...), env_bool(...), env_list(...) (config/env.py);
# os.environ.get("NAME"), os.environ["NAME"], os.getenv("NAME")
_PATTERNS = [
    re.compile(r"\benv(?:_int|_bool|_list)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"),
    re.compile(r"os\.environ(?:\.get|\.setdefault)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"),
    re.compile(r"os\.environ\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]"),
    re.compile(r"os\.getenv\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"),
]
#: Read by the tools themselves, not by our code.
TOOL_VARIABLES = {"DJANGO_SETTINGS_MODULE"}
#: What production refuses to start without (config/settings/{base,production}.py).
REQUIRED = {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}


@cache
def variables_read() -> frozenset[str]:
    """Every variable name read by config/, apps/, gpu_workers/ and docker/healthcheck.py."""
    names: set[str] = set(TOOL_VARIABLES)
    files = [*ROOT.glob("config/**/*.py"), *ROOT.glob("apps/**/*.py"), ROOT / "docker" / "healthcheck.py"]
    for path in files:
        text = path.read_text()
        for pattern in _PATTERNS:
            names.update(pattern.findall(text))
    # config/env.py: every env() name also has a NAME_FILE variant
    return frozenset(names | {f"{n}_FILE" for n in names})


@cache
def settings_variables() -> frozenset[str]:
    """Names read through config/env.py by config/settings/*.py (the README's settings)."""
    names: set[str] = set()
    for path in ROOT.glob("config/settings/*.py"):
        names.update(_PATTERNS[0].findall(path.read_text()))
    return frozenset(names)
