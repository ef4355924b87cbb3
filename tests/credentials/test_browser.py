"""In a real browser at phone width (390 px): the credential check result does not scroll
sideways - a file's full sha256 wraps inside the column instead of widening the page."""

from __future__ import annotations

import pytest

from apps.credentials.services import credential_issue

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_verify_result_fits_a_phone(learner, job, live_asgi_server, browser):
    credential = credential_issue(job=job, user=learner)
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_asgi_server}/credentials/verify/{credential.pk}/")
    hash_box = page.locator("code.cred-hash[title]").first
    assert len(hash_box.inner_text().replace("\n", "")) == 64
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert hash_box.evaluate("e => e.getBoundingClientRect().right") <= 390
