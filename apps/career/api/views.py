"""Career catalogue API: one APIView per operation, nested serializers, selectors read.

The catalogue is public reading (AllowAny, stated on every view). Filters are checked by
a serializer: a value that is not a known region, level or role - or a filter name this
operation does not have - is a 400 naming the filter, never an empty list by accident.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.career import selectors
from apps.career.models import Level, Region, Role, Track
from apps.core.api.caching import cached_by_content
from apps.core.api.pagination import DefaultPagination
from apps.core.validation import NulFreeInputMixin
from apps.curriculum.api.refs import TopicLinkOutput

TAGS = ["career"]
PAGING_PARAMS = frozenset({"page", "page_size"})


class FilterSerializer(NulFreeInputMixin, serializers.Serializer):
    """Query filters: refuses parameters it does not declare (a typo must not widen a list)."""

    def validate(self, attrs):
        known = set(self.fields) | PAGING_PARAMS
        unknown = sorted(set(self.initial_data) - known)
        if unknown:
            allowed = ", ".join(sorted(known))
            raise serializers.ValidationError({unknown[0]: [f"Unknown filter {unknown[0]!r}; use one of: {allowed}."]})
        return attrs


class ListApi(APIView):
    """A list endpoint: page-number pagination (``page``, ``page_size``), shown in the schema."""

    permission_classes = [AllowAny]  # public catalogue
    pagination_class = DefaultPagination

    def paginated(self, request: Request, queryset: QuerySet | list, serializer) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(serializer(page, many=True).data)


class SalaryBandOutput(serializers.Serializer):
    slug = serializers.CharField()
    role = serializers.CharField(source="role_label", help_text="The role as the source names it.")
    role_slug = serializers.SerializerMethodField(help_text="The catalogue role, when the band is for one role.")
    level = serializers.ChoiceField(choices=Level.choices)
    level_label = serializers.CharField()
    region = serializers.ChoiceField(choices=Region.choices)
    region_label = serializers.CharField()
    currency = serializers.CharField()
    base_min = serializers.IntegerField(allow_null=True)
    base_max = serializers.IntegerField(allow_null=True)
    total_min = serializers.IntegerField(allow_null=True)
    total_max = serializers.IntegerField(allow_null=True)
    open_ended = serializers.BooleanField(help_text="The source gives the upper bound as 'X+'.")
    pct_of_us_min = serializers.IntegerField(allow_null=True, help_text="For bands given as a share of US pay.")
    pct_of_us_max = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    year = serializers.IntegerField()
    source = serializers.CharField()

    def get_role_slug(self, band) -> str | None:
        return band.role.slug if band.role_id else None


class RoleOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    track = serializers.CharField(source="track.slug")
    track_title = serializers.CharField(source="track.title")
    summary = serializers.CharField()
    what_it_does = serializers.ListField(child=serializers.CharField())
    skills = serializers.ListField(child=serializers.CharField())
    topics = TopicLinkOutput(many=True, source="topics.all")
    url = serializers.CharField(source="get_absolute_url")


class RoleListApi(ListApi):
    """The career roles, in the guide's order, with their skills and required roadmap topics."""

    class FilterSerializer(FilterSerializer):
        track = serializers.SlugField(required=False, help_text="A track slug, e.g. engineering.")

        def validate_track(self, value: str) -> str:
            if value and not Track.objects.filter(slug=value).exists():
                raise serializers.ValidationError(f"No track {value!r}.")
            return value

    @extend_schema(
        tags=TAGS, summary="List career roles", parameters=[FilterSerializer], responses=RoleOutput(many=True)
    )
    @cached_by_content()
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paginated(request, selectors.role_list(track=filters.validated_data.get("track")), RoleOutput)


class RoleDetailApi(APIView):
    """One role, with its salary bands."""

    permission_classes = [AllowAny]  # public catalogue

    class OutputSerializer(RoleOutput):
        salaries = SalaryBandOutput(many=True, source="salary_bands.all")

    @extend_schema(
        tags=TAGS,
        summary="One career role",
        responses={200: OutputSerializer, 404: OpenApiResponse(description="No such role")},
    )
    @cached_by_content()
    def get(self, request: Request, slug: str) -> Response:
        return Response(self.OutputSerializer(selectors.role_get(slug)).data)


class SalaryListApi(ListApi):
    """Salary bands; every figure comes with its year and source."""

    class FilterSerializer(FilterSerializer):
        region = serializers.ChoiceField(choices=Region.choices, required=False)
        level = serializers.ChoiceField(choices=Level.choices, required=False)
        role = serializers.SlugField(required=False, help_text="A role slug, e.g. llm-engineer.")

        def validate_role(self, value: str) -> str:
            if value and not Role.objects.filter(slug=value).exists():
                raise serializers.ValidationError(f"No role {value!r}.")
            return value

    @extend_schema(
        tags=TAGS,
        summary="List salary bands (filter by region, level, role)",
        parameters=[FilterSerializer],
        responses=SalaryBandOutput(many=True),
    )
    @cached_by_content()
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        bands = selectors.salary_list(region=data.get("region"), level=data.get("level"), role=data.get("role"))
        return self.paginated(request, bands, SalaryBandOutput)


class JobReadyListApi(ListApi):
    """How long it typically takes to become job-ready, by starting point."""

    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        background = serializers.CharField()
        months_min = serializers.IntegerField()
        months_max = serializers.IntegerField()
        notes = serializers.CharField()

    @extend_schema(tags=TAGS, summary="List time-to-job-ready estimates", responses=OutputSerializer(many=True))
    @cached_by_content()
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.job_ready_list(), self.OutputSerializer)


class GuideEntryOutput(serializers.Serializer):
    title = serializers.CharField()
    detail = serializers.CharField()
    points = serializers.ListField(child=serializers.CharField())


class GuideListApi(ListApi):
    """The job-hunt lists: company types, where to find jobs, resume keywords, red flags."""

    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        title = serializers.CharField()
        intro = serializers.CharField()
        detail_label = serializers.CharField()
        points_label = serializers.CharField()
        entries = GuideEntryOutput(many=True, source="entries.all")

    @extend_schema(tags=TAGS, summary="List the job-hunt guide lists", responses=OutputSerializer(many=True))
    @cached_by_content()
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.guide_list_all(), self.OutputSerializer)
