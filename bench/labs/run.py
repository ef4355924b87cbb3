"""`make bench` entry for the labs benchmarks (see README.md here).

1. ``sandbox_overhead.py``: what the bubblewrap sandbox costs (bare vs sandboxed).
2. ``platform_latency.py``: what the platform adds on top of the sandbox (submit ->
   running vs starting the sandbox directly; runner print -> websocket vs Redis pub/sub).
3. ``warm_pool.py``: a PyTorch lab's submit -> first event / first progress, warm sandbox
   pool vs cold start, through the platform and directly.
4. ``per_lab.py`` (``per-lab``, not in the default set: ~15 minutes on 2 cores): each lab's
   own unit of work (step time, tokens/s, seconds per question) bare vs sandboxed.

    .venv/bin/python bench/labs/run.py [sandbox|platform|warm|per-lab]   # default: the first three

The GPU benchmarks (``gpu_bench.py``) run from ``make gpu-check`` on a GPU machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("bench/labs: skipped, the bubblewrap sandbox benches need root (as the lab worker runs)")
        sys.exit(0)
    which = sys.argv[1:] or ["sandbox", "platform", "warm"]
    if "sandbox" in which:
        from sandbox_overhead import main as sandbox_main

        sandbox_main([])
    if "platform" in which:
        from platform_latency import main as platform_main

        platform_main([])
    if "warm" in which:
        # Its own process: it starts its own services and Django (settings are per process).
        import subprocess

        subprocess.run([sys.executable, str(Path(__file__).with_name("warm_pool.py"))], check=True)
    if "per-lab" in which:
        from per_lab import main as per_lab_main

        per_lab_main([])
