"""How other apps' APIs link to a roadmap topic: one serializer, one schema component."""

from __future__ import annotations

from rest_framework import serializers


class TopicLinkOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(source="get_absolute_url")
