"""In a real browser (headless Chromium, real uvicorn): a learner publishes a portfolio with
a verified lab result; a hiring manager finds it by skill and metric and shortlists it; the
learner unpublishes; the hiring manager can no longer open it - page, API or search."""

from __future__ import annotations

import pytest

from apps.portfolios.models import Portfolio, ShortlistEntry
from tests.conftest import ROOT, browser_login
from tests.portfolios.conftest import make_job

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SHOTS = ROOT / "screenshots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"portfolios-{name}.png"), full_page=True)


def test_publish_find_shortlist_unpublish(labs, learner, hiring_manager, live_asgi_server, browser):
    base = live_asgi_server
    job = make_job(learner, labs["spam-classifier"], metrics={"accuracy": 0.97, "f1": 0.93})

    # The learner builds and publishes.
    lena = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    lena.set_default_timeout(15_000)
    browser_login(lena, base, "lena")
    lena.goto(f"{base}/labs/")
    lena.click("nav >> text=Portfolio")
    lena.fill("#id_headline", "Spam hunter with evals")
    lena.fill("#id_specialization", "ML engineer")
    lena.fill("#id_links", "GitHub | https://github.com/lena")
    lena.fill("#id_bio", "I build **careful** classifiers.")
    lena.click("button:has-text('Save profile')")
    lena.wait_for_selector("text=Saved.")
    lena.click("a.button:has-text('Add a project')")
    lena.fill("#id_title", "Spam filter that holds up")
    lena.fill("#id_skills", "scikit-learn, Evaluation")
    lena.click("button:has-text('Add project')")
    lena.select_option("#id_job", str(job.pk))
    lena.click("button:has-text('Attach this run')")
    lena.wait_for_selector("text=Result attached")
    assert "Verified" in lena.locator(".pf-result").inner_text()
    lena.click(".breadcrumbs >> text=Your portfolio")
    lena.click("#pf-publish")
    lena.wait_for_selector("text=Published:")
    shot(lena, "learner-published")
    public_id = Portfolio.objects.get(user=learner).public_id

    # The hiring manager searches by skill and metric, opens it, shortlists it.
    hana_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    hana = hana_ctx.new_page()
    hana.set_default_timeout(15_000)
    browser_login(hana, base, "hana")
    hana.goto(f"{base}/")
    hana.click("nav >> text=Candidates")
    hana.fill("#f-skill", "evaluation")
    hana.select_option("#f-lab", "spam-classifier")
    hana.fill("#f-metric", "accuracy")
    hana.fill("#f-min", "0.95")
    hana.click("#candidate-search button[type=submit]")
    hana.wait_for_selector("#candidate-results >> text=1 portfolio")
    shot(hana, "search")
    hana.fill("#f-min", "0.99")
    hana.click("#candidate-search button[type=submit]")
    hana.wait_for_selector("#candidate-results >> text=No published portfolio matches")
    hana.fill("#f-min", "abc")
    hana.click("#candidate-search button[type=submit]")
    hana.wait_for_selector("#candidate-results >> text=filter: min")
    hana.fill("#f-min", "0.95")
    hana.click("#candidate-search button[type=submit]")
    hana.click("#candidate-results >> text=lena")
    hana.wait_for_url(f"**/portfolios/p/{public_id}/")
    text = hana.locator("main").inner_text()
    assert "Spam hunter with evals" in text and "accuracy" in text and "Verified" in text
    assert hana.locator("a:has-text('Check this credential')").count() == 1
    hana.fill("#id_new_name", "Q3 ML hires")
    hana.fill("#id_note", "Strong evals; call first")
    hana.click("button:has-text('Add to shortlist')")
    hana.wait_for_selector("text=Added to 'Q3 ML hires'")
    shot(hana, "portfolio")
    assert ShortlistEntry.objects.get().note == "Strong evals; call first"

    # The learner unpublishes; everything closes for the hiring manager at once.
    lena.click("#pf-unpublish")
    lena.wait_for_selector("text=Unpublished")
    response = hana.goto(f"{base}/portfolios/p/{public_id}/")
    assert response.status == 404
    api = hana_ctx.request.get(f"{base}/api/v1/portfolios/published/{public_id}/")
    assert api.status == 404
    search = hana_ctx.request.get(f"{base}/api/v1/portfolios/published/?skill=evaluation")
    assert search.status == 200 and search.json()["count"] == 0
    hana.goto(f"{base}/portfolios/candidates/?skill=evaluation")
    assert "No published portfolio matches" in hana.locator("#candidate-results").inner_text()
    hana.goto(f"{base}/portfolios/shortlists/")
    hana.click("text=Q3 ML hires")
    assert "no longer published" in hana.locator("main").inner_text()
    assert "Spam hunter" not in hana.locator("main").inner_text()
    shot(hana, "shortlist-after-unpublish")
