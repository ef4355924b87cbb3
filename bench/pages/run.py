"""Idle server time of the hot pages, and the API's lists next to the bare operation.

    make run                                  # in another terminal
    .venv/bin/python bench/pages/run.py [--repeat 40]

Uses the running `make run` (its ``.data/run/stack.json``): the same processes, settings
(DEBUG off) and database a user gets. Three measurements, each repeated after warm-up:

* **pages over HTTP**: median and p95 time for the hot pages, anonymous and as the demo
  learner, from a keep-alive client on the same machine: the idle server time a visitor sees.
* **queries**: the SQL statements one request makes (in-process, same settings).
* **API vs bare**: each curriculum list endpoint next to "the bare operation", a plain
  ``JsonResponse`` of the same rows' ``values()``, interleaved so drift hits all alike:
  bare (function) is the query and ``JsonResponse`` called directly; bare (same stack) is that
  view mounted beside the real ones, paying the same middleware, session and auth. The API is
  measured on its cached path (what a repeated read gets) and with the cache missed on every
  request (what the first read after a content change pays).

Writes bench/pages/results.json. Not part of the test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def setup() -> None:
    """Django set up against the running stack's database and Redis (used by bench/load too)."""
    record = ROOT / ".data" / "run" / "stack.json"
    try:
        running = json.loads(record.read_text())
    except OSError:
        raise SystemExit("start the platform first (`make run`): this bench uses its services") from None
    for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY_FILE"):
        os.environ.setdefault(name, running[name])
    os.environ.setdefault("PLATFORM_DATA_DIR", str(ROOT / ".data"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    # One client makes thousands of requests a minute here: the API throttles would answer 429.
    os.environ["API_THROTTLE_ANON"] = os.environ["API_THROTTLE_USER"] = "1000000/minute"
    import django

    django.setup()


def bare_topics(request):
    """The bare operation for the topics list: the same rows, plain values()."""
    from django.http import JsonResponse

    from apps.curriculum.models import Topic

    size = min(int(request.GET.get("page_size", 20)), 100)
    fields = ("slug", "title", "phase__slug", "phase__number", "sub_track", "summary", "tools", "order")
    rows = list(Topic.objects.order_by("phase__number", "order").values(*fields)[:size])
    return JsonResponse({"count": len(rows), "results": rows})


def bare_articles(request):
    from django.http import JsonResponse

    from apps.curriculum.models import Article

    size = min(int(request.GET.get("page_size", 20)), 100)
    fields = ("slug", "title", "section", "summary", "order", "status", "version")
    rows = list(Article.objects.filter(status="published").order_by("section", "order").values(*fields)[:size])
    return JsonResponse({"count": len(rows), "results": rows})


def bare_roles(request):
    from django.http import JsonResponse

    from apps.career.models import Role

    size = min(int(request.GET.get("page_size", 20)), 100)
    fields = ("slug", "title", "track__slug", "summary", "what_it_does", "skills", "position")
    rows = list(Role.objects.order_by("track__position", "position", "slug").values(*fields)[:size])
    return JsonResponse({"count": len(rows), "results": rows})


urlpatterns: list = []  # main(): the real URLs plus the bare views


def timed(call, repeat: int, warm: int = 5) -> list[float]:
    for _ in range(warm):
        call()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "n": len(ordered),
    }


class HttpGetter:
    """GETs over one keep-alive connection to the running server, with a session cookie."""

    def __init__(self, host: str, port: int, cookie: str = "") -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=30)
        self.headers = {"Cookie": cookie} if cookie else {}

    def __call__(self, path: str) -> int:
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        response.read()
        return response.status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.client import RequestFactory
    from django.urls import include, path, reverse

    from apps.core.content_cache import content_changed
    from apps.curriculum.models import Article, Topic

    global urlpatterns
    urlpatterns = [
        path("__bare__/topics/", bare_topics),
        path("__bare__/articles/", bare_articles),
        path("__bare__/roles/", bare_roles),
        path("", include("config.urls")),
    ]
    topic = Topic.objects.order_by("phase__number", "order")[10]
    article = Article.objects.filter(status="published").order_by("-updated_at").first()
    pages = {
        "home": "/",
        "roadmap": reverse("curriculum:roadmap"),
        "phase": topic.phase.get_absolute_url(),
        "topic": topic.get_absolute_url(),
        "article": article.get_absolute_url(),
        "search": "/search/?q=make+the+answers+less+random",
        "labs": reverse("labs:index"),
        "api topics (100)": "/api/v1/curriculum/topics/?page_size=100",
        "api topic": f"/api/v1/curriculum/topics/{topic.slug}/",
    }
    learner = get_user_model().objects.get(username="learner")
    results: dict = {"pages_http": {}, "queries": {}, "api_vs_bare": {}}

    # Pages over HTTP, as the running server answers them.
    session = Client()
    session.force_login(learner)
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.cookies[settings.SESSION_COOKIE_NAME].value}"
    for who, getter in (("anonymous", HttpGetter(options.host, options.port)),
                        ("learner", HttpGetter(options.host, options.port, cookie))):  # fmt: skip
        for name, url in pages.items():
            assert getter(url) == 200, (who, name, url)
            row = summary(timed(lambda getter=getter, url=url: getter(url), options.repeat))
            results["pages_http"][f"{name} ({who})"] = {**row, "url": url}
            print(f"http {name:17} {who:9} median {row['median_ms']:6.2f} ms  p95 {row['p95_ms']:6.2f} ms", flush=True)

    with override_settings(ROOT_URLCONF=__name__):
        # Queries per request, in-process (the same settings and database).
        for who in ("anonymous", "learner"):
            client = Client()
            if who == "learner":
                client.force_login(learner)
            for name, url in pages.items():
                client.get(url)
                statements: list[str] = []

                def count(execute, sql, params, many, context, statements=statements):
                    statements.append(sql)
                    return execute(sql, params, many, context)

                with connection.execute_wrapper(count):
                    client.get(url)
                results["queries"][f"{name} ({who})"] = len(statements)
        print("queries per request:", json.dumps(results["queries"]), flush=True)

        client = Client()
        factory = RequestFactory()
        for name, app, bare_view in (
            ("topics", "curriculum", bare_topics),
            ("articles", "curriculum", bare_articles),
            ("roles", "career", bare_roles),
        ):
            api_url = f"/api/v1/{app}/{name}/?page_size=100"
            bare_url = f"/__bare__/{name}/?page_size=100"
            cached, missed, stack, bare = [], [], [], []

            def miss(api_url=api_url):
                content_changed()  # a new content generation: the cached read misses
                return client.get(api_url)

            for _ in range(options.repeat):  # interleaved: drift hits all four alike
                cached += timed(lambda api_url=api_url: client.get(api_url), 1, warm=0)
                missed += timed(miss, 1, warm=0)
                stack += timed(lambda bare_url=bare_url: client.get(bare_url), 1, warm=0)
                bare += timed(lambda view=bare_view, url=bare_url: view(factory.get(url)), 1, warm=0)
            row = {
                "api_cached": summary(cached),
                "api_cache_miss": summary(missed),
                "bare_same_stack": summary(stack),
                "bare_function": summary(bare),
            }
            for path_name in ("api_cached", "api_cache_miss"):
                for bare_name in ("bare_same_stack", "bare_function"):
                    ratio = row[path_name]["median_ms"] / row[bare_name]["median_ms"]
                    row[f"{path_name}_vs_{bare_name}"] = round(ratio, 2)
            results["api_vs_bare"][f"{name} page_size=100"] = row
            print(
                f"api {name}: cached {row['api_cached']['median_ms']} ms, cache miss "
                f"{row['api_cache_miss']['median_ms']} ms, bare same stack {row['bare_same_stack']['median_ms']} ms, "
                f"bare function {row['bare_function']['median_ms']} ms -> cached/bare(stack) "
                f"{row['api_cached_vs_bare_same_stack']}x, "
                f"miss/bare(stack) {row['api_cache_miss_vs_bare_same_stack']}x",
                flush=True,
            )
    results["meta"] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "repeat": options.repeat,
    }
    (Path(__file__).parent / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
