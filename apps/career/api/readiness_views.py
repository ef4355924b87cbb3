"""Readiness REST API: the caller's own readiness (read), target roles and checklist ticks
(write). One APIView per operation; the selectors read, the services write.

Everything here is the signed-in caller's: no operation takes a user, so nobody can read or
change another learner's readiness. Anonymous calls are 401.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.career import readiness_selectors as selectors
from apps.career import readiness_services as services
from apps.career.readiness_models import MAX_TARGET_ROLES, ReadinessCategory
from apps.career.readiness_selectors import Readiness

TAGS = ["career"]
CREDENTIAL_STATES = ["unavailable", "none", "issued", "revoked"]


class ReadinessPartOutput(serializers.Serializer):
    key = serializers.ChoiceField(choices=["roadmap", "labs", "checklist", "quiz"])
    label = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField(help_text="0 when there is nothing to measure: the part is not counted.")
    counted = serializers.BooleanField(help_text="Whether the part is in the overall score.")
    weight = serializers.IntegerField(help_text="Its share of the overall score in percent (0 when not counted).")
    percent = serializers.IntegerField()
    explanation = serializers.CharField()


class ReadinessTopicOutput(serializers.Serializer):
    slug = serializers.CharField(source="topic.slug")
    title = serializers.CharField(source="topic.title")
    phase = serializers.IntegerField(source="topic.phase.number")
    status = serializers.CharField()
    url = serializers.CharField(source="topic.get_absolute_url")


class ReadinessLabOutput(serializers.Serializer):
    slug = serializers.CharField(source="lab.slug")
    title = serializers.CharField(source="lab.title")
    job = serializers.UUIDField(source="job.pk", allow_null=True, default=None, help_text="Your best succeeded run.")
    met_targets = serializers.BooleanField()


class ReadinessResultOutput(serializers.Serializer):
    job = serializers.UUIDField(source="job.pk")
    lab = serializers.CharField(source="job.lab.slug")
    lab_title = serializers.CharField(source="job.lab.title")
    finished_at = serializers.DateTimeField(source="job.finished_at", allow_null=True)
    metrics = serializers.DictField(source="job.metrics")
    passed = serializers.BooleanField(allow_null=True, help_text="Met the lab's targets; null when it has none.")
    credential = serializers.ChoiceField(
        source="credential_state",
        choices=CREDENTIAL_STATES,
        help_text="unavailable: credentials are not offered yet; none: not issued; issued; revoked (withdrawn).",
    )


class ReadinessItemOutput(serializers.Serializer):
    slug = serializers.CharField()
    category = serializers.ChoiceField(choices=ReadinessCategory.choices)
    text = serializers.CharField()
    why = serializers.CharField()
    link = serializers.CharField(help_text="A site path or an https URL; empty when none.")
    link_label = serializers.CharField()
    ticked = serializers.BooleanField()


class ReadinessNextStepOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["topic", "lab", "credential", "checklist"])
    text = serializers.CharField()
    url = serializers.CharField()


class ReadinessOutput(serializers.Serializer):
    role = serializers.CharField(source="role.slug")
    role_title = serializers.CharField(source="role.title")
    track = serializers.CharField(source="role.track.slug")
    is_target = serializers.BooleanField()
    score = serializers.IntegerField(allow_null=True, help_text="0-100; null when no part can be measured.")
    parts = ReadinessPartOutput(many=True)
    topics = ReadinessTopicOutput(many=True)
    labs = ReadinessLabOutput(many=True)
    results = ReadinessResultOutput(many=True, help_text="Your newest succeeded lab jobs (at most 10).")
    results_total = serializers.IntegerField()
    checklist = serializers.SerializerMethodField()
    quiz_mastery = serializers.FloatField(
        allow_null=True, help_text="Always null until the quiz exists; it is then left out of the score."
    )
    next_steps = ReadinessNextStepOutput(many=True)

    @extend_schema_field(ReadinessItemOutput(many=True))
    def get_checklist(self, readiness: Readiness) -> list[dict]:
        return [_item_data(item, ticked) for group in readiness.checklist for item, ticked in group.items]


def _item_data(item, ticked: bool) -> dict:
    return {
        "slug": item.slug,
        "category": item.category,
        "text": item.text,
        "why": item.why,
        "link": item.link,
        "link_label": item.link_label,
        "ticked": ticked,
    }


class ReadinessTargetOutput(serializers.Serializer):
    role = serializers.CharField(source="role.slug")
    role_title = serializers.CharField(source="role.title")
    track = serializers.CharField(source="role.track.slug")
    score = serializers.IntegerField(allow_null=True)
    parts = ReadinessPartOutput(many=True)
    next_step = serializers.SerializerMethodField()

    @extend_schema_field(ReadinessNextStepOutput(allow_null=True))
    def get_next_step(self, readiness: Readiness) -> dict | None:
        step = readiness.next_steps[0] if readiness.next_steps else None
        return ReadinessNextStepOutput(step).data if step else None


class ReadinessOverviewApi(APIView):
    """Your target roles, each with its readiness score, parts and first next step."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        targets = ReadinessTargetOutput(many=True)
        max_targets = serializers.IntegerField()

    @extend_schema(tags=TAGS, summary="Your job readiness for each target role", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        summaries = selectors.readiness_overview(request.user)
        data = {"targets": [s.readiness for s in summaries], "max_targets": MAX_TARGET_ROLES}
        return Response(self.OutputSerializer(data).data)


class ReadinessRoleApi(APIView):
    """Your readiness for one role (a target or not): parts, evidence, checklist, next steps."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        summary="Your job readiness for one role",
        responses={200: ReadinessOutput, 404: OpenApiResponse(description="No such role")},
    )
    def get(self, request: Request, slug: str) -> Response:
        role = selectors.readiness_role_get(slug)
        return Response(ReadinessOutput(selectors.readiness_get(request.user, role)).data)


class ReadinessTargetApi(APIView):
    """Aim for a role (PUT, idempotent) or stop aiming for it (DELETE)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        summary="Add a role to your targets",
        request=None,
        responses={
            200: ReadinessTargetOutput,
            400: OpenApiResponse(description=f"You already aim for {MAX_TARGET_ROLES} roles (field: role)"),
            404: OpenApiResponse(description="No such role"),
        },
    )
    def put(self, request: Request, slug: str) -> Response:
        role = selectors.readiness_role_get(slug)
        services.target_role_add(user=request.user, role=role)
        return Response(ReadinessTargetOutput(selectors.readiness_get(request.user, role)).data)

    @extend_schema(
        tags=TAGS,
        summary="Remove a role from your targets (your checklist ticks are kept)",
        request=None,
        responses={204: OpenApiResponse(description="Removed, or was not a target"), 404: OpenApiResponse()},
    )
    def delete(self, request: Request, slug: str) -> Response:
        role = selectors.readiness_role_get(slug)
        services.target_role_remove(user=request.user, role=role)
        return Response(status=204)


class ReadinessItemListApi(APIView):
    """The job-search checklist (portfolio, writing, open source, community) with your ticks."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        total = serializers.IntegerField()
        ticked = serializers.IntegerField()
        items = ReadinessItemOutput(many=True)

    @extend_schema(tags=TAGS, summary="The readiness checklist with your ticks", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        items = [_item_data(item, ticked) for item, ticked in selectors.readiness_items(request.user)]
        data = {"total": len(items), "ticked": sum(1 for i in items if i["ticked"]), "items": items}
        return Response(self.OutputSerializer(data).data)


class ReadinessTickApi(APIView):
    """Tick (POST) or untick (DELETE) one checklist item; both idempotent."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        summary="Tick a readiness checklist item",
        request=None,
        responses={200: ReadinessItemOutput, 404: OpenApiResponse(description="No such item")},
    )
    def post(self, request: Request, slug: str) -> Response:
        item = selectors.readiness_item_get(slug)
        ticked = services.readiness_tick_set(user=request.user, item=item, ticked=True)
        return Response(ReadinessItemOutput(_item_data(item, ticked)).data)

    @extend_schema(
        tags=TAGS,
        summary="Untick a readiness checklist item",
        request=None,
        responses={200: ReadinessItemOutput, 404: OpenApiResponse(description="No such item")},
    )
    def delete(self, request: Request, slug: str) -> Response:
        item = selectors.readiness_item_get(slug)
        ticked = services.readiness_tick_set(user=request.user, item=item, ticked=False)
        return Response(ReadinessItemOutput(_item_data(item, ticked)).data)
