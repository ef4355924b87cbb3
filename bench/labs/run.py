"""`make bench` entry for the labs benchmarks (see README.md here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_overhead import main

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("bench/labs: skipped, the bubblewrap sandbox bench needs root (as the lab worker runs)")
        sys.exit(0)
    main(sys.argv[1:])
