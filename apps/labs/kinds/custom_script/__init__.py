"""Run the learner's own Python script (runner: gpu_workers/runners/script.py)."""

from __future__ import annotations

from apps.labs.kinds import LabKind, Param

EXAMPLE = '''"""Your script runs in a sandbox: no network, numpy/scikit-learn/torch available."""
import time

from gpu_workers.runners import protocol

for step in range(1, 11):
    loss = 1.0 / step
    print(f"step {step}: loss {loss:.3f}")
    protocol.metric("loss", loss, step=step)
    protocol.progress(step / 10)
    time.sleep(0.2)
'''

KIND = LabKind(
    slug="custom-script",
    runner="script",
    title="Your own script",
    summary="Run your own Python in a sandbox with NumPy, scikit-learn and PyTorch installed; "
    "report metrics and progress from your code.",
    params=(
        Param("code", "code", "main.py", EXAMPLE, max_length=20_000, file="main.py",
              help="Printed lines become the log. Call <code>protocol.metric(name, value, step=...)</code> "
              "and <code>protocol.progress(fraction)</code> from <code>gpu_workers.runners</code> to draw charts "
              "and the progress bar. No network; only the work directory is writable."),
    ),
    limits={"wall_seconds": 300, "cpu_seconds": 300, "memory_mb": 1024, "max_processes": 32,
            "max_file_mb": 64, "max_log_bytes": 500_000},
    queue="cpu",
    estimated_minutes=5.0,
    position=90,
    chart_metrics=("*",),
    failure_wording="Error in your code",
)
