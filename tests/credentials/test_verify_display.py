"""How the verify page shows a credential's claims to a person: readable dates and a run's
duration, humanised metric names with 4 significant digits, and hashes that wrap on a phone
- while the signed claims themselves stay exactly as issued."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings

from apps.credentials.services import credential_issue
from apps.credentials.templatetags.credentials_tags import credential_time, metric_label, metric_value, run_span


def _dd(page: str, label: str) -> str:
    match = re.search(rf"<dt[^>]*>{re.escape(label)}</dt><dd[^>]*>(.*?)</dd>", page, re.S)
    assert match, f"no {label!r} fact on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def test_verify_page_reads_as_a_person_would(client, learner, job):
    started = datetime(2026, 12, 2, 13, 29, 57, 816528, tzinfo=UTC)
    job.started_at, job.finished_at = started, started + timedelta(minutes=2, seconds=22)
    job.metrics = {"context_precision": 0.363542, "mean_chunk_chars": 374.8, "f1": 0.9, "chunks": 392}
    job.save(update_fields=["started_at", "finished_at", "metrics"])
    credential = credential_issue(job=job, user=learner)

    for page in (
        client.get(f"/credentials/verify/{credential.pk}/").content.decode(),
        client.post("/credentials/", {"credential": credential.token}).content.decode(),
    ):
        ran = _dd(page, "Ran")
        assert ran == "2 Dec 2026, 13:29 \u2013 13:32 UTC (2 min 22 s)"
        assert not re.search(r"\d{4}-\d\d-\d\dT", _dd(page, "Issued"))
        assert _dd(page, "Issued").endswith(" UTC")
        assert _dd(page, "Context precision") == "0.3635"
        assert _dd(page, "Mean chunk chars") == "374.8"
        assert _dd(page, "F1") == "0.9"
        assert _dd(page, "Chunks") == "392"
        assert ">context_precision</dt>" not in page
        # The claims as signed are untouched: raw key and full value in the JSON view.
        assert "&quot;context_precision&quot;: 0.363542" in page
        assert "2026-12-02T13:29:57.816528+00:00" in page


def test_file_hash_is_whole_and_wraps(client, learner, job):
    credential = credential_issue(job=job, user=learner)
    sha = hashlib.sha256(b"weights").hexdigest()
    page = client.get(f"/credentials/verify/{credential.pk}/").content.decode()
    assert f'<code class="cred-hash" title="{sha}">{sha}</code>' in page
    assert '<section class="verify-result' in page
    css = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    rule = re.search(r"\.cred-hash\s*\{([^}]*)\}", css)
    assert rule and "overflow-wrap: anywhere" in rule.group(1) and "word-break: break-all" in rule.group(1)
    assert re.search(r"\.verify-result\s*\{[^}]*overflow-wrap: anywhere", css)


def test_display_filters():
    assert credential_time("2026-12-02T13:40:33Z") == "2 Dec 2026, 13:40 UTC"
    assert credential_time("2026-12-02T14:40:33+01:00") == "2 Dec 2026, 13:40 UTC"
    assert credential_time("not a date") == "not a date"
    assert run_span({"started_at": "2026-12-02T23:59:00+00:00", "finished_at": "2026-12-03T01:00:30+00:00"}) == (
        "2 Dec 2026, 23:59 \u2013 3 Dec 2026, 01:00 UTC (1 h 1 min)"
    )
    assert run_span({"started_at": "2026-12-02T13:29:00+00:00", "finished_at": None}) == (
        "started 2 Dec 2026, 13:29 UTC"
    )
    assert run_span({"started_at": "garbled", "finished_at": "also"}) == "garbled \u2192 also"
    assert metric_label("CONTEXT_PRECISION") == "Context precision"
    assert metric_label("hit_rate") == "Hit rate"
    assert metric_label("roc_auc") == "ROC AUC"
    assert metric_value(0.363542) == "0.3635"
    assert metric_value(123456.7) == "123,457"
    assert metric_value(0.55) == "0.55"
    assert metric_value(42) == "42"
    assert metric_value(True) == "true"
    assert metric_value("n/a") == "n/a"
