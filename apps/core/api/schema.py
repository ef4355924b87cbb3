"""OpenAPI naming for the one-APIView-per-operation style.

Each API view nests its own ``InputSerializer``/``OutputSerializer``; by default every one
of them becomes the component "Output"/"Input" and they clash. Name nested serializers
after the view that holds them instead: ``MeApi.OutputSerializer`` -> ``MeApiOutput``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        cls = serializer.__class__
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer and "<locals>" not in outer:
            return outer.replace(".", "") + inner
        return super().get_serializer_name(serializer, direction)
