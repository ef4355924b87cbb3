"""The launch form, generated from a lab's parameter schema (defaults, ranges, help).

It renders; it does not validate. Its fields pass what was posted through untouched and
``lab_job_submit`` checks it against the same schema (``kinds.params_clean``), so the
form and the API refuse the same values with the same message, which the view puts on
the field the message names. The browser gets min/max/step attributes as early feedback.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.labs.kinds import param_range_text, parse_number, registry_choices


def _help(spec: dict[str, Any]) -> str:
    default = spec.get("default")
    shown_default = "" if spec.get("type") == "code" else format_html(" Default: <strong>{}</strong>.", default)
    return format_html(
        '{} <span class="param-range">Allowed: {}.{}</span>',
        mark_safe(spec.get("help", "")),  # noqa: S308 - trusted: from the kinds registry / admin
        param_range_text(spec),
        shown_default,
    )


class _SchemaField(forms.Field):
    """Hands back what was posted, never refusing it: no checks beyond the schema's own.

    A number field's text becomes a number when it reads as one (so a message says
    "got 5", not "got '5'"); anything else goes on as posted for the service to refuse.
    """

    def __init__(self, *, number: bool = False, **kwargs: Any):
        self.number = number
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> Any:
        if self.number and isinstance(value, str) and value.strip():
            # The service's own reading of numeric text, so the form passes on "1_000" as
            # posted (and it is refused) rather than as the 1000 float() would make of it.
            number = parse_number(value)
            if number is None:
                return value
            return int(number) if number.is_integer() else number
        return value


def _field(spec: dict[str, Any]) -> forms.Field:
    """A field that renders ``spec`` and hands back the posted value as it came."""
    kind = spec.get("type")
    attrs: dict[str, Any] = {}
    for key in ("min", "max", "step"):
        if spec.get(key) is not None:
            attrs[key] = spec[key]
    widget: forms.Widget
    if kind == "int":
        widget = forms.NumberInput(attrs=attrs)
    elif kind == "float":
        attrs.setdefault("step", "any")
        widget = forms.NumberInput(attrs=attrs)
    elif kind == "choice":
        widget = forms.Select(choices=[(str(c), str(c)) for c in spec.get("choices", [])])
    elif kind in ("model", "dataset"):  # the ready registry entries of the param's registry_kind
        widget = forms.Select(choices=[(slug, f"{title} ({slug})") for slug, title in registry_choices(spec)])
    elif kind == "bool":
        widget = forms.CheckboxInput()
    elif kind == "code":
        widget = forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "code-input",
                                       "autocapitalize": "off", "autocomplete": "off"})
        if spec.get("max_length"):
            widget.attrs["maxlength"] = spec["max_length"]
    else:
        widget = forms.TextInput()
    return _SchemaField(number=kind in ("int", "float"), widget=widget, label=spec.get("label") or spec["name"],
                        help_text=_help(spec), initial=spec.get("default"))


class LabLaunchForm(forms.Form):
    """Fields come from the schema; every check is the service's (see the module docstring)."""

    def __init__(self, schema: list[dict[str, Any]], *args: Any, initial_params: dict[str, Any] | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        for spec in schema:
            field = _field(spec)
            if initial_params and spec["name"] in initial_params:
                field.initial = initial_params[spec["name"]]
            field.widget.attrs.setdefault("aria-describedby", f"id_{spec['name']}-help")
            self.fields[spec["name"]] = field
