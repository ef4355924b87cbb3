"""Labs REST API: one APIView per operation, nested Input/Output serializers, services act.

Errors: 400 names the field (``params.<name>``) for parameters outside the schema; 404
for an unknown lab or someone else's job; 429 with ``resets_at`` / ``retry_after`` (and a
Retry-After header) when a quota is used up.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import FileResponse, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.pagination import DefaultPagination
from apps.core.errors import ApplicationError, NotFound
from apps.labs.files import artifact_response
from apps.labs.selectors import (
    lab_job_events_after,
    lab_job_get,
    lab_job_list,
    lab_job_rerunnable_by,
    lab_job_snapshot,
    lab_jobs_compare,
    lab_list,
    lab_queue_positions,
    lab_quota,
    lab_storage,
)
from apps.labs.services import lab_job_cancel, lab_job_files_delete, lab_job_submit

EVENTS_PAGE = 500


@extend_schema_serializer(component_name="LabJob")
class LabJobOutputSerializer(serializers.Serializer):
    """A job as the API shows it (shared by the job operations)."""

    id = serializers.UUIDField()
    lab = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    queue = serializers.CharField()
    position = serializers.IntegerField(allow_null=True, help_text="Place in the queue (1 = next) while queued.")
    params = serializers.DictField()
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    progress = serializers.FloatField(allow_null=True)
    attempts = serializers.IntegerField()
    cancel_requested = serializers.BooleanField()
    metrics = serializers.DictField()
    grade = serializers.DictField()
    last_event_seq = serializers.IntegerField()
    evidence_sha256 = serializers.CharField()
    artifacts = serializers.ListField(child=serializers.DictField())


def _job_data(job, *, position: int | None = None) -> dict:
    snap = lab_job_snapshot(job, position=position)
    snap["params"] = job.params
    snap["queued_at"] = job.queued_at
    snap["started_at"] = job.started_at
    snap["finished_at"] = job.finished_at
    for artifact in snap["artifacts"]:
        if artifact["url"]:  # None: its owner deleted the file (the record stays)
            artifact["url"] = f"/api/v1/labs/jobs/{job.pk}/artifacts/{artifact['id']}/"
    return snap


class LabListApi(APIView):
    """The lab catalogue, with the caller's quota left on each lab's queue."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="Lab")
    class OutputSerializer(serializers.Serializer):
        slug = serializers.SlugField()
        title = serializers.CharField()
        summary = serializers.CharField()
        queue = serializers.CharField()
        estimated_minutes = serializers.FloatField()
        param_schema = serializers.ListField(child=serializers.DictField())
        targets = serializers.ListField(child=serializers.DictField())
        limits = serializers.DictField()
        milestone_slug = serializers.CharField()
        quota_left_minutes = serializers.FloatField(allow_null=True)

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        quotas = {}
        if request.user.is_authenticated:
            quotas = {q: lab_quota(user=request.user, queue=q).left_minutes for q in ("cpu", "gpu")}
        data = [
            {**{f: getattr(lab, f) for f in ("slug", "title", "summary", "queue", "estimated_minutes", "param_schema",
                                              "targets", "limits", "milestone_slug")},
             "quota_left_minutes": quotas.get(lab.queue)}
            for lab in lab_list()
        ]
        return Response(self.OutputSerializer(data, many=True).data)


class LabJobListApi(APIView):
    """The caller's jobs, newest first (paginated)."""

    permission_classes = [IsAuthenticated]
    # Declares the page shape (count/next/previous/results, page/page_size) in the schema.
    pagination_class = DefaultPagination

    @extend_schema(responses=LabJobOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(lab_job_list(user=request.user), request, view=self)
        positions = {}
        for queue in {job.queue for job in page if job.status == "queued"}:
            positions.update(lab_queue_positions(queue=queue))
        data = [_job_data(job, position=positions.get(job.pk)) for job in page]
        return paginator.get_paginated_response(LabJobOutputSerializer(data, many=True).data)


FORM_META_FIELDS = frozenset({"lab", "params", "csrfmiddlewaretoken"})


def _submission_from_form(data: QueryDict) -> dict[str, Any]:
    """A form-encoded or multipart submission as the JSON one: ``{"lab", "params"}``.

    ``params`` may come as a JSON object in a ``params`` field, as ``params.<name>`` or
    ``params[<name>]`` fields, or as plain ``<name>`` fields (what an HTML form sends). All
    of them end up in the one ``params`` dict that the lab's schema then validates, so a
    value outside the schema is refused with 400 naming the field whatever the content
    type, and an unknown name is refused, never silently dropped.
    """
    params: dict[str, Any] = {}
    raw = data.get("params")
    if raw not in (None, ""):
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise ApplicationError(
                "params must be a JSON object, e.g. {\"C\": 2}, or send each parameter as its own field "
                "(params.C=2).",
                field="params",
            ) from None
        if not isinstance(decoded, dict):
            raise ApplicationError("params must be an object of parameter names to values.", field="params")
        params.update(decoded)
    for key in data:
        if key in FORM_META_FIELDS:
            continue
        name = key
        if key.startswith("params.") and len(key) > len("params."):
            name = key[len("params."):]
        elif key.startswith("params[") and key.endswith("]"):
            name = key[len("params["):-1]
        params[name] = data.get(key)
    return {"lab": data.get("lab", ""), "params": params}


class LabJobSubmitApi(APIView):
    """Launch a lab: validates ``params`` against the lab's schema, checks quota, queues the job.

    JSON, form-encoded and multipart bodies are validated the same way (the lab's schema).
    """

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="LabJobSubmit")
    class InputSerializer(serializers.Serializer):
        lab = serializers.SlugField(help_text="The lab's slug, e.g. spam-classifier.")
        params = serializers.DictField(required=False, default=dict, help_text="Omitted parameters take their default.")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            # A parameter sent beside ``params`` instead of inside it must not be dropped
            # silently (the job would run with the default).
            unknown = sorted(set(self.initial_data) - {"lab", "params"}) if isinstance(self.initial_data, dict) else []
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: [f"Unknown field {unknown[0]!r}: send lab parameters inside params."]}
                )
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={
            201: LabJobOutputSerializer,
            404: OpenApiResponse(description="No such lab, or it is not available."),
        },
    )
    def post(self, request: Request) -> Response:
        data = _submission_from_form(request.data) if isinstance(request.data, QueryDict) else request.data
        serializer = LabJobSubmitApi.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        job = lab_job_submit(user=request.user, lab=serializer.validated_data["lab"],
                             params=serializer.validated_data["params"])
        return Response(LabJobOutputSerializer(_job_data(job)).data, status=status.HTTP_201_CREATED)


class LabJobCollectionApi(LabJobListApi):
    """``/jobs/``: GET is :class:`LabJobListApi`, POST is :class:`LabJobSubmitApi`."""

    post = LabJobSubmitApi.post


class LabJobDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=LabJobOutputSerializer)
    def get(self, request: Request, job_id) -> Response:
        job = lab_job_get(job_id=job_id, user=request.user)
        return Response(LabJobOutputSerializer(_job_data(job)).data)


class LabJobEventListApi(APIView):
    """Events after seq ``after`` (at most 500; ask again with ``next_after`` while ``more``)."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="LabJobEvents")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="LabJobEvent")
        class EventSerializer(serializers.Serializer):
            seq = serializers.IntegerField()
            type = serializers.CharField()
            payload = serializers.DictField()
            created_at = serializers.DateTimeField()

        status = serializers.CharField()
        events = EventSerializer(many=True)
        next_after = serializers.IntegerField()
        more = serializers.BooleanField()

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Return events with seq greater than this.")],
        responses=OutputSerializer,
    )
    def get(self, request: Request, job_id) -> Response:
        job = lab_job_get(job_id=job_id, user=request.user)
        try:
            after = max(0, int(request.query_params.get("after", 0)))
        except ValueError:
            raise serializers.ValidationError({"after": ["after must be a whole number (a seq)."]}) from None
        events = lab_job_events_after(job=job, after=after, limit=EVENTS_PAGE + 1)
        more = len(events) > EVENTS_PAGE
        events = events[:EVENTS_PAGE]
        data = {"status": job.status, "events": events, "next_after": events[-1].seq if events else after,
                "more": more}
        return Response(self.OutputSerializer(data).data)


class LabJobCancelApi(APIView):
    """Cancel a queued or running job (owner or support). Returns the job; a running one ends shortly."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={202: LabJobOutputSerializer, 200: LabJobOutputSerializer})
    def post(self, request: Request, job_id) -> Response:
        job = lab_job_get(job_id=job_id, user=request.user)
        job = lab_job_cancel(job=job, user=request.user)
        code = status.HTTP_202_ACCEPTED if job.status == "running" else status.HTTP_200_OK
        return Response(LabJobOutputSerializer(_job_data(job)).data, status=code)


class LabJobArtifactDownloadApi(APIView):
    """Download one file a job produced (the job's owner only)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, job_id, artifact_id: int) -> FileResponse:
        job = lab_job_get(job_id=job_id, user=request.user)
        artifact = (
            job.artifacts.exclude(file="").filter(pk=artifact_id).first() if job.owner_id == request.user.id else None
        )
        if artifact is None:
            raise NotFound("There is no such file (or its owner deleted it).")
        # An attachment, octet-stream, nosniff, CSP sandbox: never rendered on our origin.
        return artifact_response(artifact)


class LabJobFilesApi(APIView):
    """Delete the stored files of one of your finished runs, to make room under your storage
    limit. Each file's record (name, size, sha256) stays. Refused (400) while the run is going
    or while it is evidence in a portfolio project; anyone else's run is 404."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "LabJobFilesDeleted",
                {"deleted_files": serializers.IntegerField(), "freed_bytes": serializers.IntegerField(),
                 "stored_bytes": serializers.IntegerField(), "limit_bytes": serializers.IntegerField()},
            ),
            404: OpenApiResponse(description="No such run of yours."),
        },
    )
    def delete(self, request: Request, job_id) -> Response:
        files, freed = lab_job_files_delete(job=job_id, user=request.user)
        storage = lab_storage(user=request.user)
        return Response(
            {"deleted_files": files, "freed_bytes": freed, "stored_bytes": storage.used_bytes,
             "limit_bytes": storage.limit_bytes}
        )


class LabJobCompareApi(APIView):
    """Two runs of the same lab side by side: settings diff, final metrics with deltas, and the
    stepped metric series of both for an overlaid chart. A is the earlier run whichever order
    they are given in; deltas are B - A. 404 if either run is not yours (or visible to you as
    support), 400 for one run twice or runs of different labs."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="LabJobComparison")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="LabJobParamDiff")
        class ParamSerializer(serializers.Serializer):
            name = serializers.CharField()
            label = serializers.CharField()
            type = serializers.CharField()
            a = serializers.JSONField(allow_null=True)
            b = serializers.JSONField(allow_null=True)
            changed = serializers.BooleanField()

        @extend_schema_serializer(component_name="LabJobMetricDiff")
        class MetricSerializer(serializers.Serializer):
            name = serializers.CharField()
            a = serializers.JSONField(allow_null=True)
            b = serializers.JSONField(allow_null=True)
            delta = serializers.FloatField(allow_null=True, help_text="b - a when both are numbers.")
            direction = serializers.ChoiceField(choices=["higher", "lower", ""],
                                                help_text="Which way the metric improves, when known.")
            better = serializers.ChoiceField(choices=["a", "b", ""], help_text="The better run, when known.")

        lab = serializers.SlugField()
        a = LabJobOutputSerializer()
        b = LabJobOutputSerializer()
        params = ParamSerializer(many=True)
        changed = serializers.ListField(child=serializers.CharField(), help_text="Names of the settings that differ.")
        metrics = MetricSerializer(many=True)
        series = serializers.DictField(
            child=serializers.DictField(child=serializers.ListField(child=serializers.ListField(
                child=serializers.FloatField()))),
            help_text='Per chart metric: {"a": [[step, value], ...], "b": [...]}.',
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("a", OpenApiTypes.UUID, required=True, description="One run's id."),
            OpenApiParameter("b", OpenApiTypes.UUID, required=True, description="The other run's id."),
        ],
        responses={200: OutputSerializer, 404: OpenApiResponse(description="No such run visible to you.")},
    )
    def get(self, request: Request) -> Response:
        missing = [name for name in ("a", "b") if not request.query_params.get(name)]
        if missing:
            raise serializers.ValidationError(
                {missing[0]: [f"Give both runs to compare: ?a=<run id>&b=<run id> ({missing[0]} is missing)."]}
            )
        c = lab_jobs_compare(user=request.user, a=request.query_params["a"], b=request.query_params["b"])
        data = {
            "lab": c.lab.slug,
            "a": _job_data(c.a),
            "b": _job_data(c.b),
            "params": c.params,
            "changed": [row["name"] for row in c.changed_params],
            "metrics": c.metrics,
            "series": c.series,
        }
        return Response(self.OutputSerializer(data).data)


class LabJobRerunApi(APIView):
    """Launch a run again with exactly its parameters, seed included, through the same submit
    service as a new run (schema, quota and concurrency checks). Owner only: 404 otherwise."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={201: LabJobOutputSerializer, 404: OpenApiResponse(description="No such run of yours.")},
    )
    def post(self, request: Request, job_id) -> Response:
        job = lab_job_get(job_id=job_id, user=request.user)
        if not lab_job_rerunnable_by(job, request.user):
            raise NotFound("There is no such lab job.")
        new = lab_job_submit(user=request.user, lab=job.lab, params=job.params)
        return Response(LabJobOutputSerializer(_job_data(new)).data, status=status.HTTP_201_CREATED)
