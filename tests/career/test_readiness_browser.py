"""Readiness in a real browser at phone width: keyboard tick through htmx, score updates."""

from __future__ import annotations

from apps.career.readiness_models import ReadinessTick
from tests.career import readiness_support
from tests.conftest import browser_login

world = readiness_support.world  # the fixture


def test_keyboard_tick_updates_item_and_score_at_390px(live_asgi_server, world, learner, browser, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    # Console errors (a CSP violation is one) and failed requests; the favicon is not ours.
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        browser_login(page, live_asgi_server, learner.username)
        page.goto(f"{live_asgi_server}/career/readiness/roles/llm-engineer/")
        assert page.locator(".rd-score-number strong").inner_text() == "0%"
        # Nothing wider than the phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.locator("#item-meetup-box")
        box.focus()
        page.keyboard.press("Space")
        page.wait_for_selector('#item-meetup-box[aria-checked="true"]')
        page.wait_for_function("document.querySelector('.rd-score-number strong').textContent === '8%'")
        # htmx swapped the item: focus stays on its checkbox for the next key press.
        assert page.evaluate("document.activeElement && document.activeElement.id") == "item-meetup-box"
        page.keyboard.press("Enter")
        page.wait_for_selector('#item-meetup-box[aria-checked="false"]')
        page.screenshot(path=str(tmp_path / "readiness-390.png"), full_page=True)
        assert not ReadinessTick.objects.filter(user=learner).exists()
        assert problems == []
    finally:
        context.close()
