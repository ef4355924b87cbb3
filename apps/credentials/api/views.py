"""Credentials REST API: issue, get, revoke (the learner, or support), verify (anyone).

Errors: 400 names the field (``job``, ``reason``, ``credential``); someone else's job or
credential is 404, as if it did not exist; support may see and revoke but not issue (403).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.validation import NulFreeInputMixin
from apps.credentials import documents
from apps.credentials.models import Credential
from apps.credentials.selectors import MAX_TOKEN_CHARS, STATUSES, credential_get, credential_verify
from apps.credentials.services import credential_issue, credential_revoke


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF would turn ``123`` or ``true`` into text, which the
    schema (``type: string``) says is refused."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_serializer(component_name="Credential")
class CredentialOutputSerializer(serializers.Serializer):
    """A credential as its learner (or support) sees it."""

    id = serializers.UUIDField()
    job = serializers.UUIDField(allow_null=True)
    lab = serializers.CharField(allow_null=True)
    state = serializers.ChoiceField(choices=["live", "revoked"])
    issued_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_reason = serializers.CharField()
    key_id = serializers.CharField()
    status_index = serializers.IntegerField()
    token = serializers.CharField(help_text="The signed credential: a compact VC-JWT (Open Badges 3.0).")
    verify_url = serializers.URLField()
    downloads = serializers.DictField(child=serializers.CharField(), help_text="jwt, json and png (baked badge).")


def _credential_data(credential: Credential) -> dict[str, Any]:
    job = credential.job
    return {
        "id": credential.pk,
        "job": credential.job_id,
        "lab": job.lab.slug if job is not None else None,
        "state": "revoked" if credential.revoked_at else "live",
        "issued_at": credential.issued_at,
        "revoked_at": credential.revoked_at,
        "revoked_reason": credential.revoked_reason,
        "key_id": credential.key_id,
        "status_index": credential.status_index,
        "token": credential.token,
        "verify_url": documents.verify_url(credential.pk),
        "downloads": {
            fmt: reverse("credentials:download", kwargs={"credential_id": str(credential.pk), "fmt": fmt})
            for fmt in ("jwt", "json", "png")
        },
    }


class CredentialIssueApi(APIView):
    """Issue the credential of one of your succeeded lab jobs (201), or get the one it has (200)."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        job = serializers.UUIDField(help_text="The lab job's id.")

    @extend_schema(
        request=InputSerializer,
        responses={
            201: CredentialOutputSerializer,
            200: CredentialOutputSerializer,
            403: OpenApiResponse(description="You may see this job (support) but it is not yours."),
            404: OpenApiResponse(description="No such lab job, or not yours."),
        },
    )
    def post(self, request: Request) -> Response:
        from apps.labs.selectors import lab_job_get

        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = lab_job_get(job_id=serializer.validated_data["job"], user=request.user)
        existed = Credential.objects.filter(job=job, revoked_at__isnull=True).exists()
        credential = credential_issue(job=job, user=request.user)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(CredentialOutputSerializer(_credential_data(credential)).data, status=code)


class CredentialDetailApi(APIView):
    """One credential (its learner, or support)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=CredentialOutputSerializer)
    def get(self, request: Request, credential_id) -> Response:
        credential = credential_get(credential_id=credential_id, user=request.user)
        return Response(CredentialOutputSerializer(_credential_data(credential)).data)


class CredentialRevokeApi(APIView):
    """Revoke (withdraw) a credential: its bit in the published status list is set at once."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        reason = StrictCharField(
            required=False,
            allow_blank=True,
            max_length=500,
            default="",
            help_text="Shown to anyone who checks the credential.",
        )

    @extend_schema(
        request=InputSerializer,
        responses={200: CredentialOutputSerializer, 403: OpenApiResponse(description="Not allowed to revoke.")},
    )
    def post(self, request: Request, credential_id) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credential = credential_get(credential_id=credential_id, user=request.user)
        credential = credential_revoke(
            credential=credential, user=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(CredentialOutputSerializer(_credential_data(credential)).data)


class CredentialVerifyApi(APIView):
    """Check a credential (anyone): valid, tampered, revoked, unknown_key or malformed."""

    permission_classes = [AllowAny]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        credential = StrictCharField(
            max_length=MAX_TOKEN_CHARS, trim_whitespace=True, help_text="The compact VC-JWT (eyJ...)."
        )

    @extend_schema_serializer(component_name="CredentialVerification")
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=list(STATUSES))
        message = serializers.CharField()
        credential_id = serializers.UUIDField(allow_null=True)
        claims = serializers.DictField(allow_null=True, help_text="The decoded payload; trust it only when valid.")

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = credential_verify(serializer.validated_data["credential"])
        data = {
            "status": result.status,
            "message": result.message,
            "claims": result.claims,
            "credential_id": result.credential.pk if result.credential is not None else None,
        }
        return Response(self.OutputSerializer(data).data)
