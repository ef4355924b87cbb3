"""The launch form renders the schema and leaves every check to the service (one set of rules)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.errors import ApplicationError
from apps.labs import kinds
from apps.labs.forms import LabLaunchForm
from apps.labs.models import LabJob

pytestmark = pytest.mark.django_db

SPAM = kinds.get_kind("spam-classifier").schema_json()
SCRIPT = kinds.get_kind("custom-script").schema_json()


def test_the_form_passes_what_was_posted_to_the_service_unjudged():
    form = LabLaunchForm(SPAM, {"max_features": "lots", "ngram_max": "7", "C": "", "test_size": "0.2", "seed": "3"})
    assert form.is_valid(), form.errors  # the form has no rules of its own...
    assert form.cleaned_data["max_features"] == "lots" and form.cleaned_data["ngram_max"] == "7"
    assert form.cleaned_data["seed"] == 3 and form.cleaned_data["test_size"] == 0.2  # numbers read as numbers
    with pytest.raises(ApplicationError) as refused:  # ...the schema's are the only ones
        kinds.params_clean(SPAM, form.cleaned_data)
    assert refused.value.field == "params.max_features" and "got 'lots'" in refused.value.message


@pytest.mark.parametrize(
    ("lab", "posted", "field", "words"),
    [
        ("spam-classifier", {"max_features": "lots"}, "max_features", "must be a whole number between 10 and 200000"),
        ("spam-classifier", {"ngram_max": "7"}, "ngram_max", "must be one of 1, 2, 3"),
        ("spam-classifier", {"C": ""}, "C", "(C) must be a number between 0.01 and 1000"),
        ("custom-script", {"code": "print(1)\x00"}, "code", "contains a NUL character"),
    ],
)
def test_a_bad_value_gets_the_services_message_on_its_field(client, learner, labs, lab, posted, field, words):
    client.force_login(learner)
    data = {name: str(value) for name, value in kinds.get_kind(lab).defaults().items()} | posted
    response = client.post(reverse("labs:detail", args=[lab]), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}-error"' in html and words in html
    assert not LabJob.objects.exists()


def test_the_form_renders_the_schema_for_the_browser():
    html = str(LabLaunchForm(kinds.get_kind("char-gpt").schema_json()))
    assert 'name="threads"' in html and 'min="1"' in html and 'max="8"' in html
    assert '<option value="64" selected>64</option>' in html  # n_embd, a choice
    code = str(LabLaunchForm(SCRIPT)["code"])
    assert "<textarea" in code and 'maxlength="20000"' in code
