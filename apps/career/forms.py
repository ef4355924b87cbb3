"""Filter forms for the career pages (the API checks the same values with serializers)."""

from __future__ import annotations

from django import forms

from apps.career.models import Level, Region
from apps.career.selectors import salary_filter_choices


class SalaryFilterForm(forms.Form):
    region = forms.ChoiceField(required=False)
    level = forms.ChoiceField(required=False)
    role = forms.ChoiceField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = salary_filter_choices()
        self.fields["region"].choices = [("", "All regions"), *Region.choices]
        self.fields["level"].choices = [("", "All levels"), *Level.choices]
        self.fields["role"].choices = [("", "All roles"), *choices["role"]]


class CompareForm(forms.Form):
    a = forms.ChoiceField(label="First role")
    b = forms.ChoiceField(label="Second role")

    def __init__(self, *args, roles: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["a"].choices = roles
        self.fields["b"].choices = roles

    def clean(self):
        data = super().clean()
        if data.get("a") and data.get("a") == data.get("b"):
            self.add_error("b", "Pick a different role to compare with.")
        return data
