from __future__ import annotations

from django.contrib import admin

from apps.labs.models import Artifact, Lab, LabJob, LabJobEvent


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "kind", "queue", "estimated_minutes", "is_active", "position")
    list_filter = ("queue", "is_active", "kind")
    search_fields = ("title", "slug")


class ArtifactInline(admin.TabularInline):
    model = Artifact
    extra = 0
    readonly_fields = ("name", "kind", "file", "size", "sha256", "created_at")
    can_delete = False


@admin.register(LabJob)
class LabJobAdmin(admin.ModelAdmin):
    list_display = ("id", "lab", "owner", "status", "queue", "queued_at", "started_at", "finished_at", "attempts",
                    "worker")
    list_filter = ("status", "queue", "lab")
    search_fields = ("id", "owner__username", "worker", "celery_task_id")
    list_select_related = ("lab", "owner")
    date_hierarchy = "queued_at"
    inlines = [ArtifactInline]
    # Jobs change only through services (conditional updates); the admin is for looking.
    readonly_fields = [f.name for f in LabJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(LabJobEvent)
class LabJobEventAdmin(admin.ModelAdmin):
    list_display = ("job", "seq", "type", "created_at")
    list_filter = ("type",)
    raw_id_fields = ("job",)
    readonly_fields = ("job", "seq", "type", "payload", "created_at")
