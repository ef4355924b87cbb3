"""Before the catalogue is loaded, every page still answers and says what to do."""

from __future__ import annotations

import pytest
from django.urls import reverse


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("career:index", "not loaded yet"),
        ("career:compare", "nothing to compare"),
        ("career:salaries", "No salary figures match"),
        ("career:job-ready", "No estimates are loaded yet"),
        ("career:guide-index", "No lists are loaded yet"),
    ],
)
def test_empty_states(client, name, text):
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert text in response.content.decode()
