from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.roles import ROLES


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
            "id": user.id, "username": user.username, "display_name": user.display_name,
            "roles": roles, "is_staff": user.is_staff,
        }
        return Response(self.OutputSerializer(data).data)
