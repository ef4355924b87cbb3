"""``python -m gpu_workers.runners <runner> [spec.json]``."""

from __future__ import annotations

import sys

from gpu_workers.runners.protocol import main

if __name__ == "__main__":
    sys.exit(main())
