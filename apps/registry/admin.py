"""Registry records are admin-managed: an admin registers a checkpoint or dataset folder found
under LABS_MODEL_DIR and verifies it. Django's model permissions (add/change/view/delete
on each model) decide who may, granted explicitly to a user or group: never implied by
``is_staff``."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.registry.models import DatasetEntry, ModelEntry
from apps.registry.services import registry_entry_verify


class RegistryEntryAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "kind", "status", "path", "updated_at")
    list_filter = ("status", "kind")
    search_fields = ("slug", "title", "path")
    readonly_fields = ("created_at", "updated_at")
    actions = ["verify_files"]

    @admin.action(description="Verify files and mark ready", permissions=["change"])
    def verify_files(self, request, queryset) -> None:
        for entry in queryset:
            entry = registry_entry_verify(entry)
            if entry.status == entry.Status.READY:
                self.message_user(request, f"{entry.slug}: ready (sha256 {entry.metadata['sha256'][:12]}...).")
            else:
                self.message_user(request, f"{entry.slug}: broken: {entry.metadata.get('error')}", messages.ERROR)


@admin.register(ModelEntry)
class ModelEntryAdmin(RegistryEntryAdmin):
    pass


@admin.register(DatasetEntry)
class DatasetEntryAdmin(RegistryEntryAdmin):
    pass
