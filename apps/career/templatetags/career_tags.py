from __future__ import annotations

from django import template

register = template.Library()

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹"}


@register.filter
def money(value: int | None, currency: str = "USD") -> str:
    """A yearly amount written out in full, e.g. ``$140,000``; an em dash when unknown."""
    if value is None:
        return "—"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{value:,}" if symbol else f"{value:,} {currency}"
