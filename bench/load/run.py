"""Load test: a class of learners on the `make run` a user starts.

    make run                                  # in another terminal
    .venv/bin/python bench/load/run.py [--seconds 60] [--levels 50 100 200]

Simulated learners (``locustfile.py``, Locust headless) click through the real pages and
API with reading time between clicks, while a few of them submit lab jobs. It reports
p50/p95 per page at each level, next to the idle figures (one learner, no load), and
then steps up learners who do not pause at all to find the requests/s at which some
page's p95 first passes 3x its idle p95. Locust runs on the same machine as the server,
so its own CPU use is part of the load (noted in the results).

Writes bench/load/results.json. Not part of the test run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
LOCUST = [sys.executable, "-m", "locust"]
QUERIES = [
    "how does attention work", "fine-tune a model cheaply", "what is a vector database", "rag evaluation",
    "tokenization", "make answers less random", "kv cache", "lora rank", "prompt injection", "salary",
]  # fmt: skip


# Rows of the report that are not pages: judged by their failures, not their latency.
NOT_PAGES = {"Aggregated", "submit lab job", "lab job status"}


def plan(host: str, learners: int, lab_submitters: int) -> dict:
    """Learner accounts with ready sessions (made directly: no login form, no lockout)."""
    sys.path.insert(0, str(ROOT / "bench" / "pages"))
    from run import setup  # bench/pages/run.py: the running stack's database

    setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.cached_db import SessionStore
    from django.middleware.csrf import _get_new_csrf_string

    from apps.core import roles
    from apps.curriculum.models import Article, Phase, Topic

    User = get_user_model()
    group = __import__("django.contrib.auth.models", fromlist=["Group"]).Group.objects.get(name=roles.LEARNER)
    sessions = []
    for n in range(learners):
        user, created = User.objects.get_or_create(username=f"load-learner-{n:03d}")
        if created:
            user.set_unusable_password()
            user.save()
            user.groups.add(group)
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "apps.core.auth_backends.CachedPermissionsModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append(
            {"sessionid": store.session_key, "csrftoken": _get_new_csrf_string(), "lab_submitter": n < lab_submitters}
        )
    return {
        "sessions": sessions,
        "phases": list(Phase.objects.values_list("slug", flat=True)),
        "topics": list(Topic.objects.values_list("slug", flat=True)),
        "articles": list(Article.objects.filter(status="published").values_list("slug", flat=True)),
        "queries": QUERIES,
    }


def locust(host: str, plan_file: str, users: int, seconds: int, reading: float, out: Path) -> dict:
    prefix = out / f"u{users}-r{reading:g}"
    env = {**os.environ, "LOAD_PLAN": plan_file, "READING_SECONDS": str(reading)}
    subprocess.run(
        [*LOCUST, "-f", str(HERE / "locustfile.py"), "--headless", "--host", host, "-u", str(users),
         "-r", str(max(1, users // 5)), "-t", f"{seconds}s", "--csv", str(prefix), "--only-summary",
         "--loglevel", "ERROR", "--stop-timeout", "5", "--reset-stats"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    rows = {}
    with open(f"{prefix}_stats.csv") as handle:
        for row in csv.DictReader(handle):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"] or 0),
                "p95_ms": float(row["95%"] or 0),
                "rps": round(float(row["Requests/s"] or 0), 1),
            }
    failures_file = Path(f"{prefix}_failures.csv")
    if failures_file.exists():
        with failures_file.open() as handle:
            for row in csv.DictReader(handle):
                rows.setdefault(row["Name"], {}).setdefault("errors", []).append(
                    f"{row['Occurrences']}x {row['Method']}: {row['Error'][:200]}"
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=int, default=60, help="per level")
    parser.add_argument("--levels", type=int, nargs="*", default=[50, 100, 200])
    parser.add_argument("--reading", type=float, default=5.0, help="seconds between clicks")
    parser.add_argument("--steps", type=int, nargs="*", default=[2, 4, 8, 16], help="learners without pauses")
    parser.add_argument("--lab-submitters", type=int, default=5, help="learners who also run lab jobs")
    options = parser.parse_args()
    most = max([*options.levels, *options.steps, 1])
    with tempfile.TemporaryDirectory() as tmp:
        plan_file = Path(tmp) / "plan.json"
        plan_file.write_text(json.dumps(plan(options.host, most, lab_submitters=options.lab_submitters)))
        out = Path(tmp)
        # Idle: one learner clicking without pause, so requests never overlap; long enough for
        # a few dozen requests per page.
        print("idle (1 learner, one request at a time)...", flush=True)
        idle = locust(options.host, str(plan_file), 1, max(30, options.seconds // 2), 0.0, out)
        results: dict = {"idle": idle, "levels": {}, "capacity": []}
        for users in options.levels:
            print(f"{users} learners, {options.reading:g} s reading...", flush=True)
            results["levels"][users] = rows = locust(options.host, str(plan_file), users, options.seconds,
                                                     options.reading, out)  # fmt: skip
            for name, row in sorted(rows.items()):
                base = idle.get(name, {}).get("p95_ms") or 0
                ratio = f"{row['p95_ms'] / base:.1f}x idle" if base else ""
                print(f"  {name:15} p50 {row['p50_ms']:6.0f} ms  p95 {row['p95_ms']:6.0f} ms {ratio:>10}  "
                      f"{row['requests']} req, {row['failures']} failed", flush=True)  # fmt: skip
        for users in options.steps:
            rows = locust(options.host, str(plan_file), users, max(20, options.seconds // 3), 0.0, out)
            worst = max(
                (row["p95_ms"] / idle[name]["p95_ms"], name)
                for name, row in rows.items()
                if name in idle and idle[name]["p95_ms"] and name not in NOT_PAGES
            )
            step = {"learners": users, "rps": rows["Aggregated"]["rps"], "worst_page": worst[1],
                    "worst_p95_vs_idle": round(worst[0], 2), "failures": rows["Aggregated"]["failures"]}  # fmt: skip
            results["capacity"].append(step)
            print(f"no pauses, {users} learners: {step['rps']} req/s, worst p95 {step['worst_p95_vs_idle']}x idle "
                  f"({step['worst_page']})", flush=True)  # fmt: skip
    within = [s["rps"] for s in results["capacity"] if s["worst_p95_vs_idle"] <= 3]
    results["rps_with_p95_within_3x_idle"] = max(within) if within else None
    results["meta"] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seconds_per_level": options.seconds,
        "lab_submitters": options.lab_submitters,
        "reading_seconds": options.reading,
        "note": "Locust runs on the same machine as the server and competes for its CPUs.",
        "web_processes": os.environ.get("WEB_CONCURRENCY") or os.cpu_count(),
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"max req/s with every page's p95 within 3x idle: {results['rps_with_p95_within_3x_idle']}")


if __name__ == "__main__":
    main()
