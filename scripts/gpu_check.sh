#!/usr/bin/env bash
# `make gpu-check`: the one prepared check for a machine with an NVIDIA GPU (CUDA 12/13 class,
# driver R580+ for the CUDA 13 wheels of requirements/gpu.txt). Within GPU_CHECK_BUDGET seconds
# (480) it:
#   1. finds the GPU (nvidia-smi) - without one it says so and exits 3 at once;
#   2. installs requirements/test.txt + requirements/gpu.txt into $GPU_VENV (.data/venv-gpu), once
#      per change of those files; GPU_PYTHON=/path/to/python uses an interpreter that already
#      has them instead (nothing installed); GPU_WHEELS=DIR installs offline from a wheel folder;
#   3. runs the GPU-marked tests (pytest -m gpu);
#   4. runs the GPU benchmarks (bench/labs/gpu_bench.py) in the time left;
#   5. prints a short report and writes it to bench/labs/results-gpu.txt (the numbers in
#      bench/labs/results-gpu.json).
# Exit status: 0 all passed; 1 a test failed or errored, or a benchmark step failed; 2 install
# failed; 3 no GPU; 4 the GPU is there but unusable (old driver, PyTorch sees no CUDA).
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-480}
GPU_VENV=${GPU_VENV:-.data/venv-gpu}
REPORT=bench/labs/results-gpu.txt
LOG_DIR=${GPU_CHECK_LOGS:-.data/gpu-check}
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
say() { echo "gpu-check: $*"; }

# 1. A GPU?
if ! command -v nvidia-smi >/dev/null 2>&1; then
    say "no NVIDIA GPU here (nvidia-smi is not installed): nothing was installed or run."
    say "Run 'make gpu-check' on a machine with an NVIDIA GPU and its driver (R580 or newer)."
    exit 3
fi
if ! GPU_LINE=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1) \
        || [ -z "$GPU_LINE" ]; then
    say "nvidia-smi finds no usable GPU (${GPU_LINE:-no output}): nothing was installed or run."
    exit 3
fi
GPU_LINE=$(echo "$GPU_LINE" | head -n1)
say "GPU: $GPU_LINE"
DRIVER=$(echo "$GPU_LINE" | cut -d, -f2 | tr -d ' ')
if [ "${DRIVER%%.*}" -lt 580 ] 2>/dev/null; then
    say "driver $DRIVER is older than R580: the CUDA 13 builds in requirements/gpu.txt (torch, vLLM) need R580+."
    say "Upgrade the driver, or on a data-centre GPU install NVIDIA's CUDA 13 forward-compatibility package."
    exit 4
fi

# 2. The Python environment.
mkdir -p "$LOG_DIR"
if [ -n "${GPU_PYTHON:-}" ]; then
    PY=$GPU_PYTHON
    say "using $PY as it is (GPU_PYTHON; nothing installed)"
else
    BASE_PYTHON=${BASE_PYTHON:-$(command -v python3.11 || command -v python3)}
    PY=$GPU_VENV/bin/python
    STAMP=$GPU_VENV/.installed-gpu
    WANT=$(cat requirements/base.txt requirements/test.txt requirements/gpu.txt | sha256sum | cut -c1-16)
    if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
        [ -x "$PY" ] || "$BASE_PYTHON" -m venv "$GPU_VENV" || { say "cannot create $GPU_VENV with $BASE_PYTHON"; exit 2; }
        PIP_ARGS=(-q --disable-pip-version-check)
        [ -n "${GPU_WHEELS:-}" ] && PIP_ARGS+=(--no-index --find-links "$GPU_WHEELS")
        say "installing requirements/test.txt + requirements/gpu.txt into $GPU_VENV (several GB the first time) ..."
        # One resolve: gpu.txt keeps base.txt's torch and transformers, so the two sets fit together.
        if ! timeout "$(left)" "$PY" -m pip install "${PIP_ARGS[@]}" -r requirements/test.txt -r requirements/gpu.txt \
                >"$LOG_DIR/install.log" 2>&1; then
            tail -n 20 "$LOG_DIR/install.log"
            say "installing the GPU requirements failed or ran out of time (log: $LOG_DIR/install.log)"
            exit 2
        fi
        echo "$WANT" >"$STAMP"
    fi
    say "installed in $(( $(date +%s) - START )) s"
fi
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>"$LOG_DIR/cuda.log"; then
    tail -n 5 "$LOG_DIR/cuda.log"
    say "PyTorch in $PY sees no CUDA device (torch $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>/dev/null))."
    exit 4
fi

# 3. GPU-marked tests. Half the time left at most: the benchmarks get the rest.
TEST_BUDGET=$(( $(left) / 2 ))
say "running the GPU-marked tests (pytest -m gpu, up to ${TEST_BUDGET} s) ..."
rm -f "$LOG_DIR/junit.xml"
timeout "$TEST_BUDGET" "$PY" -m pytest -m gpu -q -p no:cacheprovider \
    --junitxml="$LOG_DIR/junit.xml" tests >"$LOG_DIR/pytest.log" 2>&1
TEST_RC=$?
tail -n 15 "$LOG_DIR/pytest.log"
COUNTS=$("$PY" - "$LOG_DIR/junit.xml" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET
try:
    suite = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("no result (pytest did not finish)")
    sys.exit()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
total, failed, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
print(f"{total - failed - errors - skipped} passed, {failed} failed, {errors} errors, {skipped} skipped")
PYEOF
)

# 4. Benchmarks, in what is left (keep 10 s for the report).
BENCH_BUDGET=$(( $(left) - 10 ))
BENCH_RC=0
if [ "$BENCH_BUDGET" -gt 30 ]; then
    say "running the GPU benchmarks (up to ${BENCH_BUDGET} s) ..."
    timeout "$BENCH_BUDGET" "$PY" bench/labs/gpu_bench.py --budget $(( BENCH_BUDGET - 5 )) \
        >"$LOG_DIR/bench.log" 2>&1 || BENCH_RC=$?
    grep '^\[gpu_bench\]' "$LOG_DIR/bench.log" | cut -c1-200
else
    say "no time left for the benchmarks"
    BENCH_RC=124
fi
BENCH_SUMMARY=$("$PY" -c '
import json, sys
sys.path.insert(0, "bench/labs")
from gpu_bench import summary
print(summary(json.load(open("bench/labs/results-gpu.json"))))' 2>/dev/null || echo "benchmarks: no results")
BENCH_ERRORS=$(grep -c '"error"' bench/labs/results-gpu.json 2>/dev/null || true)

# 5. Report.
{
    echo "gpu-check report, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - START )) s of ${BUDGET} s"
    echo "GPU: $GPU_LINE"
    echo "tests (pytest -m gpu): $COUNTS (exit $TEST_RC)"
    echo "$BENCH_SUMMARY"
} | tee "$REPORT"
say "report written to $REPORT; logs in $LOG_DIR"
if [ "$TEST_RC" -ne 0 ] || [ "$BENCH_RC" -ne 0 ] || [ "${BENCH_ERRORS:-0}" -gt 0 ]; then
    exit 1
fi
exit 0
