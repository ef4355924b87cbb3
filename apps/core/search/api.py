"""GET /api/v1/search/ - the same hybrid search the page uses, as JSON."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from apps.core.search.registry import search_sources
from apps.core.search.selectors import MAX_LIMIT, normalize_query, search


class SearchRateThrottle(SimpleRateThrottle):
    """Per user (or per IP when anonymous): every search embeds a query and runs two retrievers.

    The rate is ``REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['search']`` when set.
    """

    scope = "search"
    default_rate = "120/minute"

    def get_rate(self) -> str:
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope) or self.default_rate

    def get_cache_key(self, request, view) -> str:
        ident = request.user.pk if request.user and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class SearchHitSerializer(serializers.Serializer):
    kind = serializers.CharField()
    key = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()
    summary = serializers.CharField()
    snippet = serializers.CharField(help_text="HTML: escaped text; only <mark> tags around the matched words.")
    score = serializers.FloatField(help_text="Reciprocal Rank Fusion score; higher is better.")
    retrievers = serializers.ListField(
        child=serializers.ChoiceField(choices=["fulltext", "vector"]),
        help_text="Which retrievers found it: fulltext (keywords), vector (meaning), or both.",
    )
    fulltext_rank = serializers.IntegerField(allow_null=True, help_text="Place in the full-text ranking (1 = first).")
    vector_rank = serializers.IntegerField(allow_null=True, help_text="Place in the vector ranking (1 = first).")


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField(help_text="The query as searched (whitespace collapsed, cut to 512 characters).")
    count = serializers.IntegerField()
    results = SearchHitSerializer(many=True)


class SearchApi(APIView):
    """Search articles, glossary terms, resources, topics (and questions) by keyword and meaning."""

    permission_classes = [AllowAny]
    throttle_classes = [SearchRateThrottle]

    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(
            trim_whitespace=True,
            error_messages={"blank": "Type something to search for.", "required": "Type something to search for."},
            help_text="What to look for: words or a question. Cut to 512 characters.",
        )
        kinds = serializers.CharField(
            required=False, allow_blank=True,
            help_text="Comma-separated kinds to search, e.g. `article,glossary`. All kinds when absent.",
        )
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=20)

        def validate_q(self, value: str) -> str:
            value = normalize_query(value)
            if not any(ch.isalnum() for ch in value):
                raise serializers.ValidationError("Type a word or a question to search for.")
            return value

        def validate_kinds(self, value: str) -> list[str]:
            kinds = sorted({k.strip() for k in value.split(",") if k.strip()})
            known = search_sources()
            unknown = [k for k in kinds if k not in known]
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown kind(s): {', '.join(unknown)}. Use any of: {', '.join(sorted(known)) or '(none yet)'}."
                )
            return kinds

    @extend_schema(
        operation_id="search",
        summary="Hybrid search (keywords + meaning)",
        parameters=[
            OpenApiParameter(
                "q", OpenApiTypes.STR, required=True,
                description="Words or a question, e.g. `how do transformers know word order?` (cut to 512 characters).",
            ),
            OpenApiParameter("kinds", OpenApiTypes.STR, description="Comma-separated kinds, e.g. article,glossary."),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"1-{MAX_LIMIT}, default 20."),
        ],
        responses={200: SearchResponseSerializer, 400: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        hits = search(data["q"], kinds=data.get("kinds") or None, limit=data["limit"])
        payload = {"query": data["q"], "count": len(hits), "results": [vars(h) for h in hits]}
        return Response(SearchResponseSerializer(payload).data)
