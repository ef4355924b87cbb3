#!/usr/bin/env bash
# Re-resolve requirements/gpu.txt in full against PyPI and write requirements/gpu.lock.txt (the
# constraints the GPU image installs with). Needs only a network path to PyPI, no GPU: pip
# resolves for this interpreter (Linux x86_64, CPython 3.11, like the image) and downloads
# metadata, not wheels. Local wheel folders and constraint files of this machine are ignored
# (PIP_CONFIG_FILE=/dev/null): they hold CPU-only torch builds. Takes ~5-10 minutes.
#   scripts/gpu_lock.sh [python]     # default .venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
report=$(mktemp --suffix=.json)
trap 'rm -f "$report"' EXIT
env -u PIP_FIND_LINKS -u PIP_CONSTRAINT -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
    "$PY" -m pip install --dry-run --ignore-installed --quiet --report "$report" -r requirements/gpu.txt
"$PY" - "$report" <<'PYEOF'
import json, sys
report = json.load(open(sys.argv[1]))
rows = sorted((i["metadata"]["name"], i["metadata"]["version"]) for i in report["install"])
env = report["environment"]
header = f"""# requirements/gpu.txt resolved in full by pip against PyPI alone (no local wheels, no
# constraints) for Linux {env['platform_machine']}, CPython {env['python_version']}: {len(rows)} distributions. The GPU
# image installs gpu.txt with this file as constraints (-c), so a rebuild gets the same set.
# Regenerate after changing gpu.txt: scripts/gpu_lock.sh (tests/labs/test_images.py checks
# that every gpu.txt pin is here at the same version).
"""
with open("requirements/gpu.lock.txt", "w") as out:
    out.write(header + "".join(f"{name}=={version}\n" for name, version in rows))
print(f"requirements/gpu.lock.txt: {len(rows)} distributions")
PYEOF
