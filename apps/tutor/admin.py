from django.contrib import admin

from apps.tutor.models import Conversation, Turn


class TurnInline(admin.TabularInline):
    model = Turn
    extra = 0
    fields = ("question", "provider", "model", "extractive", "grounded", "provider_error", "cost_usd", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "updated_at")
    search_fields = ("title", "user__username")
    inlines = [TurnInline]


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    """Usage and cost per request; ``provider_error`` says which provider failed and why."""

    list_display = ("created_at", "user", "provider", "model", "extractive", "grounded", "input_tokens",
                    "output_tokens", "cost_usd", "provider_error")
    list_filter = ("provider", "extractive", "grounded")
    readonly_fields = [f.name for f in Turn._meta.fields]
