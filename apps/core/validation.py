"""Input checks any app can share: the database's own limits, stated up front.

PostgreSQL refuses some values outright - a NUL character in any text, an integer outside
its column's range, a string longer than a ``varchar(n)`` - and an unchecked one reaches
it as a 500 ("integer out of range", "cannot contain NUL"). Checking here turns each into
a 400 that names the field, on every write path:

- DRF input serializers: mix in ``NulFreeInputMixin`` (covers strings nested anywhere,
  including lists and JSON fields such as ``topics``, before a related field queries the
  database), and give integer fields ``**integer_bounds(Model, "field")``.
- Django forms: ``forms.IntegerField(**integer_bounds(Model, "field"))``; Django's
  CharField already refuses NUL, other fields can use ``reject_nul_validator``.
- Services (the last line, whatever the caller): ``check_integer``, ``check_length``,
  ``reject_nul`` raise ``ApplicationError(field=...)``.

Bounds come from the model field (its validators include the database backend's range),
so a migration that widens a column widens the check with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from rest_framework import serializers

from apps.core.errors import ApplicationError

NUL_MESSAGE = "Remove the NUL character (\\x00): text cannot contain it."


def contains_nul(value: Any) -> bool:
    """Whether a NUL is anywhere in ``value``: strings, and keys and items of dicts and lists."""
    # Iterative, so a deeply nested JSON payload cannot exhaust the stack.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return False


def reject_nul(value: Any, field: str) -> None:
    if contains_nul(value):
        raise ApplicationError(NUL_MESSAGE, field=field)


def reject_nul_validator(value: Any) -> None:
    """A Django validator (forms, model fields) for non-text fields that may hold strings."""
    if contains_nul(value):
        raise DjangoValidationError(NUL_MESSAGE, code="null_characters_not_allowed")


def integer_bounds(model: type[models.Model], field_name: str) -> dict[str, int | None]:
    """``{"min_value": ..., "max_value": ...}`` for an integer model field, as both DRF's and
    Django's IntegerField take them: the tightest of the field's own validators and the
    database column's range."""
    field = model._meta.get_field(field_name)
    low: int | None = None
    high: int | None = None
    for validator in field.validators:
        if isinstance(validator, MinValueValidator):
            limit = validator.limit_value() if callable(validator.limit_value) else validator.limit_value
            low = limit if low is None else max(low, limit)
        elif isinstance(validator, MaxValueValidator):
            limit = validator.limit_value() if callable(validator.limit_value) else validator.limit_value
            high = limit if high is None else min(high, limit)
    return {"min_value": low, "max_value": high}


def check_integer(model: type[models.Model], field_name: str, value: int, *, field: str | None = None) -> None:
    """Raise a 400 naming ``field`` (default: the model field's name) when out of range."""
    bounds = integer_bounds(model, field_name)
    low, high = bounds["min_value"], bounds["max_value"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApplicationError("Give a whole number.", field=field or field_name)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ApplicationError(f"Give a whole number from {low:,} to {high:,}.", field=field or field_name)


def check_length(model: type[models.Model], field_name: str, value: str, *, field: str | None = None) -> None:
    """Raise a 400 when ``value`` is longer than the model field's ``max_length`` (or has a NUL)."""
    reject_nul(value, field or field_name)
    limit = model._meta.get_field(field_name).max_length
    if limit is not None and len(value) > limit:
        raise ApplicationError(
            f"Keep this under {limit:,} characters (it has {len(value):,}).", field=field or field_name
        )


class NulFreeInputMixin(serializers.Serializer):
    """Refuse NUL characters in any submitted field, before any field parses its value.

    DRF's CharField already refuses NUL, but a ``SlugRelatedField`` or ``JSONField`` hands
    the raw value to the database; this check runs first, for every field at once.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {name: [NUL_MESSAGE] for name in self.fields if name in data and contains_nul(_raw(data, name))}
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _raw(data: Mapping, name: str) -> Any:
    # A QueryDict (form-encoded input) holds lists; look at every value, not just the last.
    getlist = getattr(data, "getlist", None)
    return getlist(name) if getlist is not None else data[name]
