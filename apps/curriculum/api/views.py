"""REST API for the curriculum: one APIView per operation, nested Input/Output serializers.

Reading is open to everyone (drafts only to authors); writing articles needs the author
role plus the object permission (checked again inside the services); progress endpoints
only ever touch the caller's own rows.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.caching import cached_by_content
from apps.core.api.pagination import DefaultPagination
from apps.core.api.rows import slug_url
from apps.core.validation import NulFreeInputMixin, integer_bounds
from apps.curriculum import selectors, services
from apps.curriculum.markdown import max_body_bytes, render_markdown
from apps.curriculum.models import Article, Resource, Section, SubTrack, Topic, TopicProgress

TAGS = ["curriculum"]


def readers_or_authors(request: Request) -> str:
    """Authors also see drafts: their cached answers are kept apart from readers'."""
    return selectors.audience(request.user)


class IsAuthor(BasePermission):
    """Role check for the view, object permission for the article it acts on."""

    message = "Only authors can change articles."

    def has_permission(self, request, view) -> bool:
        return selectors.user_is_author(request.user)

    def has_object_permission(self, request, view, obj) -> bool:
        return services.article_can_change(request.user, obj)


class ListApi(APIView):
    """A list endpoint: page-number pagination (``page``, ``page_size``), shown in the schema."""

    pagination_class = DefaultPagination

    def paginated(self, request: Request, queryset: QuerySet | list, represent) -> Response:
        """One page of ``queryset``, each item shaped by ``represent``: a serializer class,
        or a function from the page's rows to their representations (``apps.core.api.rows``)."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        if isinstance(represent, type) and issubclass(represent, serializers.BaseSerializer):
            return paginator.get_paginated_response(represent(page, many=True).data)
        return paginator.get_paginated_response(represent(page))


class TopicRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    sub_track = serializers.CharField()


# --- Phases ---------------------------------------------------------------------------


class MilestoneOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    success_criteria = serializers.ListField(child=serializers.CharField())


class ChecklistItemOutput(serializers.Serializer):
    slug = serializers.CharField()
    text = serializers.CharField()


class PhaseListApi(ListApi):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CurriculumPhase"  # unique in the schema across apps

        number = serializers.IntegerField()
        slug = serializers.CharField()
        title = serializers.CharField()
        week_start = serializers.IntegerField()
        week_end = serializers.IntegerField()
        goal = serializers.CharField()
        summary = serializers.CharField()
        topics = TopicRefSerializer(many=True, source="topics.all")

    @extend_schema(
        tags=TAGS, summary="List the roadmap's phases with their topics", responses=OutputSerializer(many=True)
    )
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.phase_list(), self.OutputSerializer)


class PhaseDetailApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(PhaseListApi.OutputSerializer):
        class Meta:
            ref_name = "CurriculumPhaseDetail"  # unique in the schema across apps

        milestone_projects = MilestoneOutput(many=True, source="milestones.all")
        checklist = ChecklistItemOutput(many=True, source="checklist_items.all")

    @extend_schema(
        tags=TAGS,
        summary="One phase: topics, milestone projects and checklist",
        responses={200: OutputSerializer, 404: OpenApiResponse(description="No such phase")},
    )
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request, slug: str) -> Response:
        return Response(self.OutputSerializer(selectors.phase_get(slug)).data)


# --- Topics ---------------------------------------------------------------------------


class TopicOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    phase = serializers.CharField(source="phase.slug")
    phase_number = serializers.IntegerField(source="phase.number")
    sub_track = serializers.CharField()
    summary = serializers.CharField()
    tools = serializers.ListField(child=serializers.CharField())
    order = serializers.IntegerField()
    prerequisites = serializers.SerializerMethodField()
    article = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_prerequisites(self, topic: Topic) -> list[str]:
        return [t.slug for t in topic.prerequisites.all()]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_article(self, topic: Topic) -> str | None:
        return topic.article.slug if topic.article else None


def topic_representations(rows: list[dict]) -> list[dict]:
    """``TopicOutput(many=True).data`` built from ``selectors.topic_rows`` (tests hold them equal)."""
    prerequisites = selectors.topic_prerequisite_slugs()
    url = slug_url("curriculum:topic")
    return [
        {
            "slug": row["slug"],
            "title": row["title"],
            "phase": row["phase__slug"],
            "phase_number": row["phase__number"],
            "sub_track": row["sub_track"],
            "summary": row["summary"],
            "tools": row["tools"],
            "order": row["order"],
            "prerequisites": prerequisites.get(row["id"], []),
            "article": row["article__slug"],
            "url": url(row["slug"]),
        }
        for row in rows
    ]


class TopicListApi(ListApi):
    permission_classes = [AllowAny]

    class FilterSerializer(serializers.Serializer):
        phase = serializers.SlugField(required=False)
        sub_track = serializers.ChoiceField(choices=SubTrack.choices, required=False, allow_blank=True)

    @extend_schema(
        tags=TAGS, summary="List roadmap topics", parameters=[FilterSerializer], responses=TopicOutput(many=True)
    )
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paginated(request, selectors.topic_rows(**filters.validated_data), topic_representations)


class TopicDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAGS, summary="One topic", responses={200: TopicOutput, 404: OpenApiResponse(description="No such topic")}
    )
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request, slug: str) -> Response:
        return Response(TopicOutput(selectors.topic_get(slug, request.user)).data)


# --- Articles -------------------------------------------------------------------------


class ArticleListOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    section = serializers.CharField()
    summary = serializers.CharField()
    order = serializers.IntegerField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    url = serializers.CharField(source="get_absolute_url")


class ArticleDetailOutput(ArticleListOutput):
    body = serializers.CharField()
    html = serializers.SerializerMethodField(help_text="Sanitized HTML with glossary tooltips.")
    toc = serializers.SerializerMethodField()
    topics = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()
    updated_by = serializers.CharField(allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)

    def _rendered(self, article: Article):
        if not hasattr(self, "_cache"):
            self._cache = {}
        if article.pk not in self._cache:
            self._cache[article.pk] = render_markdown(article.body)
        return self._cache[article.pk]

    @extend_schema_field(OpenApiTypes.STR)
    def get_html(self, article: Article) -> str:
        return self._rendered(article).html

    @extend_schema_field(
        inline_serializer(
            "TocEntry",
            {
                "level": serializers.IntegerField(),
                "id": serializers.CharField(),
                "title": serializers.CharField(),
            },
            many=True,
        )
    )
    def get_toc(self, article: Article) -> list[dict]:
        return self._rendered(article).toc

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_topics(self, article: Article) -> list[str]:
        return list(article.topics.values_list("slug", flat=True))


class ArticleWriteOutput(ArticleDetailOutput):
    warnings = serializers.SerializerMethodField(
        help_text="What the author should know about the saved body, e.g. raw HTML shown as text."
    )

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_warnings(self, article: Article) -> list[str]:
        return services.article_body_warnings(article.body)


class ArticleInput(NulFreeInputMixin, serializers.Serializer):
    # Limits are checked again by the services; stating them here puts them in the schema.
    title = serializers.CharField(max_length=200)
    section = serializers.ChoiceField(choices=Section.choices)
    summary = serializers.CharField(max_length=services.MAX_SUMMARY_CHARS)
    body = serializers.CharField(
        trim_whitespace=False,
        help_text=f"Markdown, at most {max_body_bytes():,} bytes (UTF-8).",
    )
    order = serializers.IntegerField(required=False, default=0, **integer_bounds(Article, "order"))
    topics = serializers.SlugRelatedField(slug_field="slug", queryset=Topic.objects.all(), many=True, required=False)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ArticleListApi(ListApi):
    def get_permissions(self):
        return [IsAuthor()] if self.request.method == "POST" else [AllowAny()]

    class FilterSerializer(serializers.Serializer):
        section = serializers.ChoiceField(choices=Section.choices, required=False)
        status = serializers.ChoiceField(
            choices=Article.Status.choices,
            required=False,
            help_text="Authors only; readers always get published articles.",
        )

    class InputSerializer(ArticleInput):
        class Meta:
            ref_name = "CurriculumArticleCreate"  # unique in the schema across apps

        slug = serializers.SlugField(max_length=100)

    @extend_schema(
        tags=TAGS,
        summary="List articles (published; authors also see drafts)",
        parameters=[FilterSerializer],
        responses=ArticleListOutput(many=True),
    )
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        articles = selectors.article_list(request.user, **filters.validated_data)
        return self.paginated(request, articles, ArticleListOutput)

    @extend_schema(
        tags=TAGS,
        summary="Create a draft article (authors)",
        request=InputSerializer,
        responses={
            201: ArticleWriteOutput,
            400: OpenApiResponse(description="Invalid input: the field name maps to the reasons"),
            403: OpenApiResponse(description="Not an author"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        article = services.article_create(user=request.user, **data.validated_data)
        return Response(ArticleWriteOutput(article).data, status=status.HTTP_201_CREATED)


class ArticleDetailApi(APIView):
    def get_permissions(self):
        return [AllowAny()] if self.request.method == "GET" else [IsAuthor()]

    class InputSerializer(ArticleInput):
        class Meta:
            ref_name = "CurriculumArticleUpdate"  # unique in the schema across apps

        expected_version = serializers.IntegerField(
            min_value=1,
            max_value=integer_bounds(Article, "version")["max_value"],
            help_text="The version your edit started from; a newer saved version makes this a 409.",
        )

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name, field in self.fields.items():
                if name != "expected_version":
                    field.required = False

    @extend_schema(
        tags=TAGS,
        summary="One article with its rendered HTML",
        responses={200: ArticleDetailOutput, 404: OpenApiResponse(description="No such article")},
    )
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request, slug: str) -> Response:
        return Response(ArticleDetailOutput(selectors.article_get(slug, request.user)).data)

    @extend_schema(
        tags=TAGS,
        summary="Edit an article (authors); refused with 409 if someone saved since",
        request=InputSerializer,
        responses={
            200: ArticleWriteOutput,
            400: OpenApiResponse(description="Invalid input: the field name maps to the reasons"),
            403: OpenApiResponse(description="Not an author"),
            409: OpenApiResponse(description="Edit conflict: current_version, updated_by, updated_at"),
        },
    )
    def patch(self, request: Request, slug: str) -> Response:
        article = selectors.article_get_for_author(slug)
        self.check_object_permissions(request, article)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in data.initial_data or k == "expected_version"}
        article = services.article_update(article, user=request.user, **fields)
        return Response(ArticleWriteOutput(article).data)


class ArticlePublishApi(APIView):
    permission_classes = [IsAuthor]

    @extend_schema(
        tags=TAGS,
        summary="Publish an article (authors)",
        request=None,
        responses={200: ArticleDetailOutput, 403: OpenApiResponse(description="Not allowed")},
    )
    def post(self, request: Request, slug: str) -> Response:
        article = selectors.article_get_for_author(slug)
        self.check_object_permissions(request, article)
        return Response(ArticleDetailOutput(services.article_publish(article, user=request.user)).data)


class ArticleUnpublishApi(APIView):
    permission_classes = [IsAuthor]

    @extend_schema(
        tags=TAGS,
        summary="Unpublish an article back to draft (authors)",
        request=None,
        responses={200: ArticleDetailOutput, 403: OpenApiResponse(description="Not allowed")},
    )
    def post(self, request: Request, slug: str) -> Response:
        article = selectors.article_get_for_author(slug)
        self.check_object_permissions(request, article)
        return Response(ArticleDetailOutput(services.article_unpublish(article, user=request.user)).data)


class ArticleRevisionListApi(ListApi):
    permission_classes = [IsAuthor]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CurriculumArticleRevision"  # unique in the schema across apps

        version = serializers.IntegerField()
        title = serializers.CharField()
        summary = serializers.CharField()
        body = serializers.CharField()
        author = serializers.CharField(allow_null=True)
        created_at = serializers.DateTimeField()
        note = serializers.CharField()

    @extend_schema(
        tags=TAGS, summary="An article's revisions, newest first (authors)", responses=OutputSerializer(many=True)
    )
    def get(self, request: Request, slug: str) -> Response:
        article = selectors.article_get_for_author(slug)
        self.check_object_permissions(request, article)
        return self.paginated(request, selectors.article_revisions(article), self.OutputSerializer)


class ArticleRevisionRestoreApi(APIView):
    permission_classes = [IsAuthor]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        class Meta:
            ref_name = "CurriculumRevisionRestore"  # unique in the schema across apps

        expected_version = serializers.IntegerField(
            min_value=1, max_value=integer_bounds(Article, "version")["max_value"]
        )

    @extend_schema(
        tags=TAGS,
        summary="Restore a revision as a new version (authors)",
        request=InputSerializer,
        responses={
            200: ArticleWriteOutput,
            400: OpenApiResponse(description="The revision's text cannot be saved today (e.g. over the size limit)"),
            404: OpenApiResponse(description="No such revision"),
            409: OpenApiResponse(description="Edit conflict"),
        },
    )
    def post(self, request: Request, slug: str, version: int) -> Response:
        article = selectors.article_get_for_author(slug)
        self.check_object_permissions(request, article)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        revision = selectors.article_revision_get(article, version)
        article = services.article_revision_restore(
            article, revision=revision, user=request.user, expected_version=data.validated_data["expected_version"]
        )
        return Response(ArticleWriteOutput(article).data)


# --- Glossary and resources -------------------------------------------------------------


class GlossaryOutput(serializers.Serializer):
    slug = serializers.CharField()
    term = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    short = serializers.CharField()
    long = serializers.CharField()
    url = serializers.CharField(source="get_absolute_url")


class GlossaryListApi(ListApi):
    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, summary="The glossary, A-Z", responses=GlossaryOutput(many=True))
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.glossary_list(), GlossaryOutput)


class GlossaryDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, summary="One glossary term", responses={200: GlossaryOutput, 404: OpenApiResponse()})
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request, slug: str) -> Response:
        return Response(GlossaryOutput(selectors.glossary_term_get(slug)).data)


class ResourceOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.CharField()
    cost = serializers.CharField()
    url = serializers.URLField()
    author = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    description = serializers.CharField()
    topics = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_topics(self, resource: Resource) -> list[str]:
        return [topic.slug for topic in resource.topics.all()]  # prefetched by the selector


class ResourceListApi(ListApi):
    permission_classes = [AllowAny]

    class FilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=Resource.Kind.choices, required=False)
        cost = serializers.ChoiceField(choices=Resource.Cost.choices, required=False)
        topic = serializers.SlugField(required=False)

    @extend_schema(
        tags=TAGS,
        summary="Learning resources, filtered by kind, cost or topic",
        parameters=[FilterSerializer],
        responses={200: ResourceOutput(many=True), 400: OpenApiResponse()},
    )
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paginated(request, selectors.resource_list(**filters.validated_data), ResourceOutput)


class ResourceDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, summary="One learning resource", responses={200: ResourceOutput, 404: OpenApiResponse()})
    @cached_by_content(audience=readers_or_authors)
    def get(self, request: Request, slug: str) -> Response:
        return Response(ResourceOutput(selectors.resource_get(slug)).data)


# --- The learner's own progress ----------------------------------------------------------


class ProgressApi(APIView):
    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CurriculumProgress"  # unique in the schema across apps

        topics = serializers.DictField(child=serializers.CharField(), help_text="topic slug -> status")
        checklist = serializers.ListField(child=serializers.CharField(), help_text="ticked checklist item slugs")
        articles_done = serializers.ListField(child=serializers.CharField())
        phases = serializers.ListField(
            child=inline_serializer(
                "PhaseProgress",
                {
                    "slug": serializers.CharField(),
                    "number": serializers.IntegerField(),
                    "total": serializers.IntegerField(),
                    "done": serializers.IntegerField(),
                    "in_progress": serializers.IntegerField(),
                    "skipped": serializers.IntegerField(),
                    "checklist_total": serializers.IntegerField(),
                    "checklist_done": serializers.IntegerField(),
                },
            )
        )

    @extend_schema(tags=TAGS, summary="Your own progress on the roadmap", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.progress_get(request.user)).data)


class TopicProgressApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        class Meta:
            ref_name = "CurriculumTopicStatusUpdate"  # unique in the schema across apps

        status = serializers.ChoiceField(choices=TopicProgress.Status.choices)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CurriculumTopicStatus"  # unique in the schema across apps

        topic = serializers.CharField()
        status = serializers.CharField()

    @extend_schema(
        tags=TAGS, summary="Your status for one topic", responses={200: OutputSerializer, 404: OpenApiResponse()}
    )
    def get(self, request: Request, slug: str) -> Response:
        topic = selectors.topic_get(slug)
        return Response(
            self.OutputSerializer({"topic": topic.slug, "status": selectors.topic_status(request.user, topic)}).data
        )

    @extend_schema(
        tags=TAGS,
        summary="Set your status for one topic",
        request=InputSerializer,
        responses={200: OutputSerializer, 400: OpenApiResponse(), 404: OpenApiResponse()},
    )
    def put(self, request: Request, slug: str) -> Response:
        topic = selectors.topic_get(slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        progress = services.topic_progress_set(request.user, topic, data.validated_data["status"])
        return Response(self.OutputSerializer({"topic": topic.slug, "status": progress.status}).data)


class ChecklistTickApi(APIView):
    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CurriculumChecklistTick"  # unique in the schema across apps

        item = serializers.CharField()
        ticked = serializers.BooleanField()

    @extend_schema(
        tags=TAGS,
        summary="Tick a checklist item",
        request=None,
        responses={201: OutputSerializer, 404: OpenApiResponse()},
    )
    def post(self, request: Request, slug: str) -> Response:
        item = selectors.checklist_item_get(slug)
        services.checklist_item_tick(request.user, item)
        return Response(self.OutputSerializer({"item": item.slug, "ticked": True}).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        summary="Untick a checklist item",
        request=None,
        responses={204: OpenApiResponse(description="Unticked (or was not ticked)"), 404: OpenApiResponse()},
    )
    def delete(self, request: Request, slug: str) -> Response:
        item = selectors.checklist_item_get(slug)
        services.checklist_item_untick(request.user, item)
        return Response(status=status.HTTP_204_NO_CONTENT)
