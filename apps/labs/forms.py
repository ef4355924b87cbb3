"""The launch form, generated from a lab's parameter schema (defaults, ranges, help)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.labs.kinds import param_range_text


def _help(spec: dict[str, Any]) -> str:
    default = spec.get("default")
    shown_default = "" if spec.get("type") == "code" else format_html(" Default: <strong>{}</strong>.", default)
    return format_html(
        '{} <span class="param-range">Allowed: {}.{}</span>',
        mark_safe(spec.get("help", "")),  # noqa: S308 - trusted: from the kinds registry / admin
        param_range_text(spec),
        shown_default,
    )


def _field(spec: dict[str, Any]) -> forms.Field:
    kind = spec.get("type")
    common = {"label": spec.get("label") or spec["name"], "help_text": _help(spec), "initial": spec.get("default")}
    attrs: dict[str, Any] = {}
    for key in ("min", "max", "step"):
        if spec.get(key) is not None:
            attrs[key] = spec[key]
    if kind == "int":
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **common)
    if kind == "float":
        attrs.setdefault("step", "any")
        return forms.FloatField(widget=forms.NumberInput(attrs=attrs), **common)
    if kind == "choice":
        choices = [(str(c), str(c)) for c in spec.get("choices", [])]
        return forms.ChoiceField(choices=choices, **common)
    if kind == "bool":
        return forms.BooleanField(required=False, **common)
    if kind == "code":
        return forms.CharField(
            strip=False,
            max_length=spec.get("max_length"),
            widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "code-input",
                                         "autocapitalize": "off", "autocomplete": "off"}),
            **common,
        )
    return forms.CharField(**common)


class LabLaunchForm(forms.Form):
    """Fields come from the schema; range checks are the service's (one source of truth),
    the browser gets min/max/step attributes for early feedback."""

    def __init__(self, schema: list[dict[str, Any]], *args: Any, initial_params: dict[str, Any] | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        for spec in schema:
            field = _field(spec)
            if initial_params and spec["name"] in initial_params:
                field.initial = initial_params[spec["name"]]
            field.widget.attrs.setdefault("aria-describedby", f"id_{spec['name']}-help")
            self.fields[spec["name"]] = field
