from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_link(context, url_name: str, label: str) -> str:
    """A nav entry, marked current when it matches; absent until the app defines the URL."""
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        return ""
    request = context.get("request")
    current = request is not None and (request.path == url or (url != "/" and request.path.startswith(url)))
    return format_html(
        '<li><a href="{}"{}>{}</a></li>', url, mark_safe(' aria-current="page"') if current else "", label
    )
