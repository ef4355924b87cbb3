"""Markdown renderer benchmark: the new pipeline (markdown-it-py) vs the old (Python-Markdown).

    .venv/bin/python bench/markdown/run.py [--repeat 5] [--old-timeout 20]

Times markdown -> sanitized HTML (the part whose cost grows with the text; glossary
linking and the cache are left out) on every real article in content/articles/ and on
the pathological bodies of issue #14, side by side in one run. Times are CPU seconds of
the rendering process (``time.process_time``), so other work on a shared machine does
not inflate them. The old renderer is
Python-Markdown with the extensions and settings the app used before, when it is still
importable (it is no longer in requirements/base.txt; ``pip install markdown==3.11.3``);
otherwise the baseline is bare markdown-it-py without our rules. Each old-renderer case
runs in a child process killed after ``--old-timeout`` seconds, since some never finish.
Writes bench/markdown/results.json. Not part of the test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure()  # the renderer reads one setting (the size limit); no database needed

from apps.curriculum import markdown as new  # noqa: E402


def nested_list(levels: int) -> str:
    return "".join("  " * i + "- item\n" for i in range(levels))


PATHOLOGICAL: dict[str, str] = {
    "nested brackets 4 KB": "[" * 4_096,
    "nested brackets 8 KB": "[" * 8_192,
    "nested brackets 100 KB": "[" * 100_000,
    "unclosed images 100 KB": "![" * 50_000,
    "emphasis runs 100 KB": "*a" * 50_000,
    "250 nested list levels": nested_list(250),
    "unclosed <style> + article": "Intro.\n\n<style>\n\n" + "## Section\n\nText with *emphasis*.\n\n" * 200,
    "2 MB of words": "word " * 400_000,
}


def new_render(text: str) -> str:
    """What a save costs now: the size check, then parse + render + sanitize."""
    problems = new.body_problems(text)
    if problems and problems[0].startswith("The text is"):
        return "refused: " + problems[0]
    html, _warnings, errors = new._markdown_to_html(text)
    out = new.sanitize(html)
    return ("refused: " + errors[0]) if errors else f"{len(out):,} bytes of HTML"


def old_renderer() -> tuple[str, Callable[[str], str]]:
    try:
        import markdown as markdown_lib
    except ImportError:
        from markdown_it import MarkdownIt

        bare = MarkdownIt("commonmark", {"html": True}).enable("table")
        return "bare markdown-it-py (Python-Markdown not installed)", lambda t: new.sanitize(bare.render(t))

    def render(text: str) -> str:
        md = markdown_lib.Markdown(
            extensions=["tables", "fenced_code", "codehilite", "toc", "sane_lists"],
            extension_configs={
                "codehilite": {"css_class": "highlight", "guess_lang": False},
                "tables": {"use_align_attribute": True},
                "toc": {"toc_depth": "2-4"},
            },
            output_format="html",
        )
        return new.sanitize(md.convert(text))

    return f"Python-Markdown {markdown_lib.__version__}", render


def _child(text: str, queue) -> None:
    _, render = old_renderer()
    started = time.process_time()
    try:
        out = render(text)
        queue.put((time.process_time() - started, f"{len(out):,} bytes of HTML"))
    except BaseException as exc:  # RecursionError is the point of one case
        queue.put((time.process_time() - started, f"raised {type(exc).__name__}"))


def time_old(text: str, timeout: float) -> tuple[float | None, str]:
    queue = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("fork").Process(target=_child, args=(text, queue))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        return None, f"killed after {timeout:.0f} s wall (still running)"
    return queue.get()


def time_new(text: str, repeat: int) -> tuple[float, str]:
    times = []
    outcome = ""
    for _ in range(repeat):
        started = time.process_time()
        outcome = new_render(text)
        times.append(time.process_time() - started)
    return statistics.median(times), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per real article (median)")
    parser.add_argument("--old-timeout", type=float, default=20.0)
    args = parser.parse_args()
    old_name, old_render = old_renderer()

    articles = []
    for path in sorted((ROOT / "content" / "articles").glob("*.md")):
        text = path.read_text()
        body = text.split("---", 2)[2] if text.startswith("---") else text
        articles.append((path.stem, body))

    rows = []
    print(f"old = {old_name}; new = markdown-it-py pipeline (apps/curriculum/markdown.py)\n")
    print(f"{'case':34} {'bytes':>9} {'old cpu s':>9} {'new cpu s':>9}  new outcome / old outcome")
    total_old = total_new = 0.0
    for name, body in articles:
        old_times = []
        for _ in range(args.repeat):
            started = time.process_time()
            old_render(body)
            old_times.append(time.process_time() - started)
        old_s = statistics.median(old_times)
        new_s, outcome = time_new(body, args.repeat)
        total_old += old_s
        total_new += new_s
        rows.append({"case": f"article {name}", "bytes": len(body.encode()), "old_s": old_s, "new_s": new_s})
        print(f"{'article ' + name:34.34} {len(body.encode()):>9,} {old_s:>9.4f} {new_s:>9.4f}  {outcome}")
    print(f"{'all ' + str(len(articles)) + ' articles':34} {'':>9} {total_old:>9.4f} {total_new:>9.4f}\n")

    for name, body in PATHOLOGICAL.items():
        new_s, new_outcome = time_new(body, 1)
        old_s, old_outcome = time_old(body, args.old_timeout)
        rows.append(
            {
                "case": name,
                "bytes": len(body.encode()),
                "old_s": old_s,
                "old_outcome": old_outcome,
                "new_s": new_s,
                "new_outcome": new_outcome,
            }
        )
        old_text = f"{old_s:>9.3f}" if old_s is not None else f"{'>' + str(int(args.old_timeout)):>9}"
        print(f"{name:34} {len(body.encode()):>9,} {old_text} {new_s:>9.3f}  {new_outcome} / {old_outcome}")

    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores, Python {platform.python_version()}",
        "old": old_name,
        "max_body_bytes": new.max_body_bytes(),
        "rows": rows,
    }
    (Path(__file__).parent / "results.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
