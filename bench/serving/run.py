"""Which ASGI server should serve the platform? Measured, not hoped.

Serves the same Django pages under uvicorn, granian and daphne (one worker each) and loads
them with wrk from the same machine. The "bare" row is a raw ASGI hello-world under the
same server: the ratio says how much of the time is Django's, not the server's.

    .venv/bin/pip install -r requirements/bench.txt && apt-get install -y wrk
    .venv/bin/python bench/serving/run.py [--seconds 8] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from config.embedded import EmbeddedPostgres, EmbeddedRedis, free_port, wait_for_tcp  # noqa: E402

SERVERS = {
    "uvicorn": lambda app, port: [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning",
                                  "--no-access-log", "--lifespan", "off"],
    "granian": lambda app, port: [sys.executable, "-m", "granian", "--interface", "asgi", "--port", str(port),
                                  "--log-level", "warning", "--no-ws", app],
    "daphne": lambda app, port: [sys.executable, "-m", "daphne", "-p", str(port), "-v", "0", app],
}
PAGES = {"home": "/", "login form": "/accounts/login/"}
BARE_APP = "bench.serving.bare:app"


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": ms("50%"), "p99_ms": ms("99%"), "non_2xx": int(errors.group(1)) if errors else 0}


def serve(server: str, app: str, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(SERVERS[server](app, port), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for_tcp("127.0.0.1", port, 30):
        proc.kill()
        raise RuntimeError(f"{server} did not start")
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("error: wrk is not installed: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    postgres, redis = EmbeddedPostgres(tmp / "pg"), EmbeddedRedis(tmp / "redis", port=free_port())
    try:
        postgres.start()
        env = {**os.environ, "DATABASE_URL": postgres.create_database("bench"), "REDIS_URL": redis.start(),
               "DJANGO_SETTINGS_MODULE": "config.settings.local", "DJANGO_DEBUG": "0",
               "PLATFORM_DATA_DIR": str(tmp / "data"), "XDG_RUNTIME_DIR": str(tmp),
               # The model's background load would compete with the requests for the 2 cores.
               "EMBEDDING_WARM_UP": "0"}
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        rows = []
        for server in SERVERS:
            for label, app, path in [*((name, "config.asgi:application", p) for name, p in PAGES.items()),
                                     ("bare ASGI hello", BARE_APP, "/")]:
                proc, port = serve(server, app, env)
                try:
                    wrk(f"http://127.0.0.1:{port}{path}", 2, options.connections)  # warm-up
                    result = wrk(f"http://127.0.0.1:{port}{path}", options.seconds, options.connections)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:  # granian drains slowly; the numbers are in
                        proc.kill()
                        proc.wait()
                rows.append({"server": server, "page": label, **result})
                print(f"{server:8} {label:16} {result['rps']:9.0f} req/s  p50 {result['p50_ms']:7.2f} ms  "
                      f"p99 {result['p99_ms']:7.2f} ms  non-2xx {result['non_2xx']}", flush=True)
        base = {r["page"]: r["rps"] for r in rows if r["server"] == "uvicorn"}
        for row in rows:
            row["vs_uvicorn"] = round(row["rps"] / base[row["page"]], 2)
        bare = {r["server"]: r["rps"] for r in rows if r["page"] == "bare ASGI hello"}
        for row in rows:
            row["share_of_bare"] = round(row["rps"] / bare[row["server"]], 3)
        result = {"date": date.today().isoformat(), "cpus": os.cpu_count(), "seconds": options.seconds,
                  "connections": options.connections, "rows": rows}
        (ROOT / "bench/serving/results.json").write_text(json.dumps(result, indent=2) + "\n")
        print("\nserver   page              req/s  vs uvicorn  of bare")
        for row in rows:
            print(f"{row['server']:8} {row['page']:16} {row['rps']:6.0f}  "
                  f"{row['vs_uvicorn']:9.2f}  {row['share_of_bare']:7.3f}")
    finally:
        redis.stop()
        postgres.stop()
        time.sleep(0.2)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
