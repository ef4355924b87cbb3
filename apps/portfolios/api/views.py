"""Portfolios REST API: one APIView per operation, nested Input/Output serializers, services act.

- ``me/...``: the caller's own portfolio and projects (``portfolios.keep_portfolio``: learners).
- ``published/...``: search and open published portfolios (``portfolios.browse_portfolios``:
  hiring managers). An unpublished or unknown id is a 404 (existence does not leak).
- ``shortlists/...``: the caller's own shortlists and private notes (hiring managers).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.pagination import DefaultPagination
from apps.core.validation import NulFreeInputMixin, integer_bounds
from apps.portfolios import selectors, services
from apps.portfolios.models import (
    MAX_BIO_CHARS,
    MAX_LINK_LABEL_CHARS,
    MAX_LINKS,
    MAX_NOTE_CHARS,
    MAX_SKILL_CHARS,
    MAX_SKILLS,
    MAX_SUMMARY_CHARS,
    MAX_URL_CHARS,
    Project,
)

TAGS = ["portfolios"]


class CanKeepPortfolio(BasePermission):
    message = "Portfolios are for learners: this account cannot keep one."

    def has_permission(self, request, view) -> bool:
        return selectors.portfolio_can_keep(request.user)


class CanBrowsePortfolios(BasePermission):
    message = "Searching portfolios and keeping shortlists needs the hiring manager role."

    def has_permission(self, request, view) -> bool:
        return selectors.portfolio_can_browse(request.user)


# --- output shapes ------------------------------------------------------------------------


@extend_schema_serializer(component_name="PortfolioLink")
class LinkSerializer(NulFreeInputMixin, serializers.Serializer):
    label = serializers.CharField(max_length=MAX_LINK_LABEL_CHARS, allow_blank=True, required=False, default="")
    url = serializers.URLField(max_length=MAX_URL_CHARS, help_text="http or https only.")


@extend_schema_serializer(component_name="PortfolioCredential")
class CredentialRefSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "issued", "revoked"])
    id = serializers.CharField(allow_null=True)
    verify_url = serializers.CharField(allow_null=True, help_text="Where anyone can check the credential.")


@extend_schema_serializer(component_name="PortfolioEvidence")
class EvidenceOutputSerializer(serializers.Serializer):
    @extend_schema_serializer(component_name="PortfolioEvidenceParam")
    class ParamSerializer(serializers.Serializer):
        name = serializers.CharField()
        value = serializers.CharField()

    @extend_schema_serializer(component_name="PortfolioEvidenceArtifact")
    class ArtifactSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        size = serializers.IntegerField()
        sha256 = serializers.CharField()
        image_url = serializers.CharField(allow_null=True)

    id = serializers.IntegerField()
    job_id = serializers.UUIDField()
    lab = serializers.CharField()
    lab_title = serializers.CharField()
    metrics = serializers.DictField()
    params = ParamSerializer(many=True)
    grade = serializers.DictField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    evidence_sha256 = serializers.CharField()
    artifacts = ArtifactSerializer(many=True)
    credential = CredentialRefSerializer()


@extend_schema_serializer(component_name="PortfolioProject")
class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    summary = serializers.CharField(help_text="Markdown as written.")
    summary_html = serializers.CharField(help_text="Rendered and sanitized.")
    skills = serializers.ListField(child=serializers.CharField())
    position = serializers.IntegerField()
    evidence = EvidenceOutputSerializer(many=True)


@extend_schema_serializer(component_name="Portfolio")
class PortfolioOutputSerializer(serializers.Serializer):
    public_id = serializers.UUIDField()
    url = serializers.CharField(help_text="The portfolio page (public while published).")
    name = serializers.CharField()
    headline = serializers.CharField()
    specialization = serializers.CharField()
    specialization_label = serializers.CharField()
    links = LinkSerializer(many=True)
    bio = serializers.CharField(help_text="Markdown as written.")
    bio_html = serializers.CharField(help_text="Rendered and sanitized.")
    is_published = serializers.BooleanField()
    published_at = serializers.DateTimeField(allow_null=True)
    skills = serializers.ListField(child=serializers.CharField())
    projects = ProjectOutputSerializer(many=True)


@extend_schema_serializer(component_name="PortfolioCard")
class PortfolioCardSerializer(serializers.Serializer):
    @extend_schema_serializer(component_name="PortfolioCardResult")
    class ResultSerializer(serializers.Serializer):
        lab = serializers.CharField()
        lab_title = serializers.CharField()
        metrics = serializers.DictField()

    public_id = serializers.UUIDField()
    url = serializers.CharField()
    name = serializers.CharField()
    headline = serializers.CharField()
    specialization = serializers.CharField()
    specialization_label = serializers.CharField()
    skills = serializers.ListField(child=serializers.CharField())
    verified_results = ResultSerializer(many=True)
    published_at = serializers.DateTimeField(allow_null=True)


def _with_url(data: dict[str, Any]) -> dict[str, Any]:
    from django.urls import reverse

    return {**data, "url": reverse("portfolios:public", args=[data["public_id"]])}


def _portfolio_data(portfolio) -> dict[str, Any]:
    return _with_url(selectors.portfolio_detail(portfolio))


def _project_data(project) -> dict[str, Any]:
    detail = selectors.portfolio_detail(project.portfolio)
    return next(p for p in detail["projects"] if p["id"] == project.pk)


def _fields_sent(serializer: serializers.Serializer) -> dict[str, Any]:
    return {k: v for k, v in serializer.validated_data.items() if k in serializer.initial_data}


# --- the caller's own portfolio -----------------------------------------------------------


class PortfolioMeApi(APIView):
    """Your portfolio (created empty and unpublished on first use)."""

    permission_classes = [CanKeepPortfolio]
    # ``links`` is a list of objects, which a form body cannot say: JSON only (else 415).
    parser_classes = [JSONParser]

    @extend_schema(tags=TAGS, summary="Your portfolio", responses=PortfolioOutputSerializer)
    def get(self, request: Request) -> Response:
        portfolio = services.portfolio_get_or_create(user=request.user)
        return Response(PortfolioOutputSerializer(_portfolio_data(portfolio)).data)


class PortfolioUpdateApi(APIView):
    permission_classes = [CanKeepPortfolio]
    parser_classes = [JSONParser]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        headline = serializers.CharField(max_length=120, allow_blank=True, required=False)
        specialization = serializers.CharField(
            max_length=80, allow_blank=True, required=False, help_text="A career role's slug or your own words."
        )
        links = LinkSerializer(many=True, required=False, max_length=MAX_LINKS)
        bio = serializers.CharField(max_length=MAX_BIO_CHARS, allow_blank=True, required=False, help_text="Markdown.")

    @extend_schema(
        tags=TAGS,
        summary="Change your portfolio's profile",
        request=InputSerializer,
        responses=PortfolioOutputSerializer,
    )
    def patch(self, request: Request) -> Response:
        data = PortfolioUpdateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = _fields_sent(data)
        if "links" in fields:
            fields["links"] = [dict(link) for link in fields["links"]]
        portfolio = services.portfolio_get_or_create(user=request.user)
        services.portfolio_update(portfolio=portfolio, user=request.user, **fields)
        return Response(PortfolioOutputSerializer(_portfolio_data(portfolio)).data)


class PortfolioMeCollectionApi(PortfolioMeApi):
    """``me/``: GET is :class:`PortfolioMeApi`, PATCH is :class:`PortfolioUpdateApi`."""

    patch = PortfolioUpdateApi.patch


class PortfolioPublishApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanKeepPortfolio]

    @extend_schema(
        tags=TAGS,
        summary="Publish your portfolio (public page, search, shortlists) at once",
        request=None,
        responses={
            200: PortfolioOutputSerializer,
            400: OpenApiResponse(description="Not ready: e.g. no headline yet (field names it)."),
        },
    )
    def post(self, request: Request) -> Response:
        portfolio = services.portfolio_get_or_create(user=request.user)
        services.portfolio_publish(portfolio=portfolio, user=request.user)
        return Response(PortfolioOutputSerializer(_portfolio_data(portfolio)).data)


class PortfolioUnpublishApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanKeepPortfolio]

    @extend_schema(
        tags=TAGS,
        summary="Unpublish your portfolio: 404 to everyone else at once",
        request=None,
        responses=PortfolioOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        portfolio = services.portfolio_get_or_create(user=request.user)
        services.portfolio_unpublish(portfolio=portfolio, user=request.user)
        return Response(PortfolioOutputSerializer(_portfolio_data(portfolio)).data)


class ProjectInput(NulFreeInputMixin, serializers.Serializer):
    title = serializers.CharField(max_length=120)
    summary = serializers.CharField(
        max_length=MAX_SUMMARY_CHARS, allow_blank=True, required=False, help_text="Markdown."
    )
    skills = serializers.ListField(
        child=serializers.CharField(max_length=MAX_SKILL_CHARS),
        max_length=MAX_SKILLS,
        required=False,
        help_text="Matched exactly (lower-cased) by search.",
    )
    position = serializers.IntegerField(required=False, **integer_bounds(Project, "position"))


class ProjectListApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanKeepPortfolio]

    @extend_schema(tags=TAGS, summary="Your projects", responses=ProjectOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        portfolio = services.portfolio_get_or_create(user=request.user)
        return Response(ProjectOutputSerializer(selectors.portfolio_detail(portfolio)["projects"], many=True).data)


class ProjectCreateApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanKeepPortfolio]

    class InputSerializer(ProjectInput):
        pass

    @extend_schema(
        tags=TAGS, summary="Add a project", request=InputSerializer, responses={201: ProjectOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = ProjectCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        portfolio = services.portfolio_get_or_create(user=request.user)
        project = services.project_create(portfolio=portfolio, user=request.user, **data.validated_data)
        return Response(ProjectOutputSerializer(_project_data(project)).data, status=status.HTTP_201_CREATED)


class ProjectCollectionApi(ProjectListApi):
    post = ProjectCreateApi.post


class ProjectDetailApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanKeepPortfolio]

    @extend_schema(tags=TAGS, summary="One of your projects", responses=ProjectOutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get_own(user=request.user, project_id=project_id)
        return Response(ProjectOutputSerializer(_project_data(project)).data)


class ProjectUpdateApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanKeepPortfolio]

    class InputSerializer(ProjectInput):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["title"].required = False

    @extend_schema(
        tags=TAGS, summary="Change one of your projects", request=InputSerializer, responses=ProjectOutputSerializer
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get_own(user=request.user, project_id=project_id)
        data = ProjectUpdateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.project_update(project=project, user=request.user, **_fields_sent(data))
        return Response(ProjectOutputSerializer(_project_data(project)).data)


class ProjectDeleteApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanKeepPortfolio]

    @extend_schema(tags=TAGS, summary="Delete one of your projects", responses={204: None})
    def delete(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get_own(user=request.user, project_id=project_id)
        services.project_delete(project=project, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectResourceApi(ProjectDetailApi):
    patch = ProjectUpdateApi.patch
    delete = ProjectDeleteApi.delete


class EvidenceAttachApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    """Attach one of your own succeeded lab runs; its credential is issued."""

    permission_classes = [CanKeepPortfolio]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        job = serializers.UUIDField(help_text="The id of one of your lab runs that succeeded.")

    @extend_schema(
        tags=TAGS,
        summary="Attach a lab run to a project",
        request=InputSerializer,
        responses={201: EvidenceOutputSerializer},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get_own(user=request.user, project_id=project_id)
        data = EvidenceAttachApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        evidence = services.evidence_attach(project=project, user=request.user, job_id=data.validated_data["job"])
        payload = selectors.evidence_data(evidence, portfolio=project.portfolio)
        return Response(EvidenceOutputSerializer(payload).data, status=status.HTTP_201_CREATED)


class EvidenceDetachApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanKeepPortfolio]

    @extend_schema(tags=TAGS, summary="Remove a result from a project (its credential stays)", responses={204: None})
    def delete(self, request: Request, project_id: int, evidence_id: int) -> Response:
        project = selectors.project_get_own(user=request.user, project_id=project_id)
        evidence = selectors.evidence_get_own(project=project, evidence_id=evidence_id)
        services.evidence_detach(evidence=evidence, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- published portfolios (hiring managers) -----------------------------------------------


SEARCH_PARAMETERS = [
    OpenApiParameter(
        "skill",
        OpenApiTypes.STR,
        many=True,
        description="A skill every match lists (repeat or "
        f"comma-separate for several, at most {selectors.MAX_SEARCH_SKILLS}; each at most "
        f"{MAX_SKILL_CHARS} characters).",
    ),
    OpenApiParameter("specialization", OpenApiTypes.STR, description="Part of the specialization (max 80)."),
    OpenApiParameter("lab", OpenApiTypes.STR, description="A verified result from this lab (its slug)."),
    OpenApiParameter("metric", OpenApiTypes.STR, description="A verified result reporting this metric."),
    OpenApiParameter("min", OpenApiTypes.DOUBLE, description="The metric at least this (needs metric)."),
    OpenApiParameter("max", OpenApiTypes.DOUBLE, description="The metric at most this (needs metric)."),
]


class PublishedPortfolioListApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    """Search published portfolios; every filter must hold (metric bounds on one result)."""

    permission_classes = [CanBrowsePortfolios]
    pagination_class = DefaultPagination

    @extend_schema(
        tags=TAGS,
        summary="Search published portfolios",
        parameters=SEARCH_PARAMETERS,
        responses=PortfolioCardSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = selectors.search_filters_parse(request.query_params)
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(selectors.portfolio_search(filters), request, view=self)
        cards = [_with_url(card) for card in selectors.portfolio_cards(page)]
        return paginator.get_paginated_response(PortfolioCardSerializer(cards, many=True).data)


class PublishedPortfolioDetailApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanBrowsePortfolios]

    @extend_schema(tags=TAGS, summary="One published portfolio", responses=PortfolioOutputSerializer)
    def get(self, request: Request, public_id) -> Response:
        portfolio = selectors.portfolio_get_published(public_id=public_id)
        return Response(PortfolioOutputSerializer(_portfolio_data(portfolio)).data)


# --- shortlists ---------------------------------------------------------------------------


@extend_schema_serializer(component_name="Shortlist")
class ShortlistOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    entries_count = serializers.IntegerField(help_text="Shortlisted portfolios that are published now.")
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="ShortlistDetail")
class ShortlistDetailOutputSerializer(ShortlistOutputSerializer):
    @extend_schema_serializer(component_name="ShortlistEntry")
    class EntrySerializer(serializers.Serializer):
        id = serializers.IntegerField()
        portfolio = PortfolioCardSerializer()
        note = serializers.CharField(help_text="Private: only you see it.")
        added_at = serializers.DateTimeField()

    entries = EntrySerializer(many=True)
    hidden_count = serializers.IntegerField(help_text="Shortlisted portfolios unpublished since (not shown).")


def _shortlist_data(shortlist, *, with_entries: bool = False) -> dict[str, Any]:
    entries = list(selectors.shortlist_entries(shortlist))
    data = {
        "id": shortlist.pk,
        "name": shortlist.name,
        "entries_count": len(entries),
        "created_at": shortlist.created_at,
    }
    if with_entries:
        cards = {c["public_id"]: _with_url(c) for c in selectors.portfolio_cards([e.portfolio for e in entries])}
        data["entries"] = [
            {"id": e.pk, "portfolio": cards[str(e.portfolio.public_id)], "note": e.note, "added_at": e.added_at}
            for e in entries
        ]
        data["hidden_count"] = selectors.shortlist_hidden_count(shortlist)
    return data


class ShortlistListApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanBrowsePortfolios]

    @extend_schema(tags=TAGS, summary="Your shortlists", responses=ShortlistOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        data = [_shortlist_data(s) for s in selectors.shortlist_list(user=request.user)]
        return Response(ShortlistOutputSerializer(data, many=True).data)


class ShortlistCreateApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanBrowsePortfolios]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        name = serializers.CharField(max_length=80)

    @extend_schema(
        tags=TAGS, summary="Create a shortlist", request=InputSerializer, responses={201: ShortlistOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = ShortlistCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        shortlist = services.shortlist_create(user=request.user, name=data.validated_data["name"])
        return Response(ShortlistOutputSerializer(_shortlist_data(shortlist)).data, status=status.HTTP_201_CREATED)


class ShortlistCollectionApi(ShortlistListApi):
    post = ShortlistCreateApi.post


class ShortlistDetailApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanBrowsePortfolios]

    @extend_schema(
        tags=TAGS, summary="One of your shortlists with its notes", responses=ShortlistDetailOutputSerializer
    )
    def get(self, request: Request, shortlist_id: int) -> Response:
        shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
        return Response(ShortlistDetailOutputSerializer(_shortlist_data(shortlist, with_entries=True)).data)


class ShortlistRenameApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanBrowsePortfolios]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        name = serializers.CharField(max_length=80)

    @extend_schema(
        tags=TAGS, summary="Rename one of your shortlists", request=InputSerializer, responses=ShortlistOutputSerializer
    )
    def patch(self, request: Request, shortlist_id: int) -> Response:
        shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
        data = ShortlistRenameApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.shortlist_rename(shortlist=shortlist, user=request.user, name=data.validated_data["name"])
        return Response(ShortlistOutputSerializer(_shortlist_data(shortlist)).data)


class ShortlistDeleteApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanBrowsePortfolios]

    @extend_schema(tags=TAGS, summary="Delete one of your shortlists and its notes", responses={204: None})
    def delete(self, request: Request, shortlist_id: int) -> Response:
        shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
        services.shortlist_delete(shortlist=shortlist, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShortlistResourceApi(ShortlistDetailApi):
    patch = ShortlistRenameApi.patch
    delete = ShortlistDeleteApi.delete


@extend_schema_serializer(component_name="ShortlistEntryWrite")
class EntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    portfolio = serializers.UUIDField(help_text="The portfolio's public id.")
    note = serializers.CharField()
    added_at = serializers.DateTimeField()


def _entry_data(entry) -> dict[str, Any]:
    return {"id": entry.pk, "portfolio": entry.portfolio.public_id, "note": entry.note, "added_at": entry.added_at}


class ShortlistEntryAddApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    """Shortlist a published portfolio (again: updates the note)."""

    permission_classes = [CanBrowsePortfolios]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        portfolio = serializers.UUIDField(help_text="The portfolio's public id.")
        note = serializers.CharField(max_length=MAX_NOTE_CHARS, allow_blank=True, required=False, default="")

    @extend_schema(
        tags=TAGS,
        summary="Add a portfolio to one of your shortlists",
        request=InputSerializer,
        responses={201: EntryOutputSerializer},
    )
    def post(self, request: Request, shortlist_id: int) -> Response:
        shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
        data = ShortlistEntryAddApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.shortlist_entry_add(
            shortlist=shortlist,
            user=request.user,
            public_id=data.validated_data["portfolio"],
            note=data.validated_data["note"],
        )
        return Response(EntryOutputSerializer(_entry_data(entry)).data, status=status.HTTP_201_CREATED)


class ShortlistEntryUpdateApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanBrowsePortfolios]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        note = serializers.CharField(max_length=MAX_NOTE_CHARS, allow_blank=True)

    @extend_schema(
        tags=TAGS,
        summary="Change your private note on an entry",
        request=InputSerializer,
        responses=EntryOutputSerializer,
    )
    def patch(self, request: Request, shortlist_id: int, entry_id: int) -> Response:
        shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
        entry = selectors.shortlist_entry_get(shortlist=shortlist, entry_id=entry_id)
        data = ShortlistEntryUpdateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.shortlist_entry_update(entry=entry, user=request.user, note=data.validated_data["note"])
        return Response(EntryOutputSerializer(_entry_data(entry)).data)


class ShortlistEntryRemoveApi(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form cannot express lists such as skills
    permission_classes = [CanBrowsePortfolios]

    @extend_schema(tags=TAGS, summary="Remove an entry from your shortlist", responses={204: None})
    def delete(self, request: Request, shortlist_id: int, entry_id: int) -> Response:
        shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
        entry = selectors.shortlist_entry_get(shortlist=shortlist, entry_id=entry_id)
        services.shortlist_entry_remove(entry=entry, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShortlistEntryResourceApi(ShortlistEntryUpdateApi):
    delete = ShortlistEntryRemoveApi.delete
