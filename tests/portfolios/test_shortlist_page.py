"""The shortlist page: entries whose portfolio was unpublished are counted, never shown, and
the page does not then also claim the shortlist is empty."""

from __future__ import annotations

from apps.portfolios import services

EMPTY = "Nobody on this shortlist yet."
HIDDEN = "1 shortlisted portfolio is no longer published and hidden here."


def test_unpublished_entry_is_not_an_empty_shortlist(client, learner, hiring_manager, portfolio):
    shortlist = services.shortlist_create(user=hiring_manager, name="ML")
    client.force_login(hiring_manager)
    url = f"/portfolios/shortlists/{shortlist.pk}/"
    page = client.get(url).content.decode()
    assert EMPTY in page and "no longer published" not in page

    services.shortlist_entry_add(shortlist=shortlist, user=hiring_manager, public_id=portfolio.public_id)
    page = client.get(url).content.decode()
    assert EMPTY not in page and "Spam hunter" in page

    services.portfolio_unpublish(portfolio=portfolio, user=learner)
    page = client.get(url).content.decode()
    assert HIDDEN in page
    assert EMPTY not in page
    assert "Spam hunter" not in page
