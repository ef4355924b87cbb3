from __future__ import annotations

from django.contrib import admin

from apps.credentials.models import Credential


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    """Read-only: issue and revoke go through the services (the status list, the rules)."""

    list_display = ("id", "subject", "job", "issued_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = [f.name for f in Credential._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
