from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.roles import ROLES
from apps.core.services import api_token_expires_at, api_token_obtain

_Locked = inline_serializer(
    "AuthLockedOut", {"detail": serializers.CharField(), "retry_after": serializers.IntegerField()}
)


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token (valid API_TOKEN_TTL_HOURS).

    After too many failed attempts from one IP or for one account, attempts are refused
    with 429 until the cool-off ends (``retry_after`` seconds, also in ``Retry-After``)."""

    authentication_classes = []  # the credentials are in the body
    permission_classes = [AllowAny]
    throttle_classes = []  # django-axes limits the failures; successes are not worth limiting

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires = serializers.DateTimeField()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Missing fields or wrong username/password."),
            429: OpenApiResponse(_Locked, description="Locked out after too many failures; retry after the cool-off."),
        },
        auth=[],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Django's own request: axes marks it, and its middleware reads the mark.
        token = api_token_obtain(request=request._request, **serializer.validated_data)
        return Response(self.OutputSerializer({"token": token.key, "expires": api_token_expires_at(token)}).data)


class MeApi(APIView):
    """The signed-in user and their roles."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        display_name = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())
        is_staff = serializers.BooleanField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        user = request.user
        roles = [g for g in user.groups.values_list("name", flat=True) if g in ROLES]
        data = {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "roles": roles,
            "is_staff": user.is_staff,
        }
        return Response(self.OutputSerializer(data).data)
