"""Admin for every curriculum model.

Articles are written in the author area (/learn/author/): it has the live preview, the
revision history and the edit-conflict guard. Here an article's text is read-only, adding
one goes to the author editor, and publishing goes through the same services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from apps.core.errors import ApplicationError
from apps.core.search import services as search_services
from apps.curriculum import services
from apps.curriculum.markdown import body_problems
from apps.curriculum.models import (
    Article,
    ArticleRead,
    ArticleRevision,
    ChecklistItem,
    ChecklistTick,
    GlossaryTerm,
    MilestoneProject,
    Phase,
    Resource,
    Topic,
    TopicProgress,
)


class MarkdownCheckedForm(forms.ModelForm):
    """Refuses markdown that could not be shown in full (too large, nested too deep), with
    the reason on the field, as the article services do for bodies."""

    markdown_fields: tuple[str, ...] = ()

    def clean(self):
        cleaned = super().clean()
        for name in self.markdown_fields:
            for problem in body_problems(cleaned.get(name) or ""):
                self.add_error(name, problem)
        return cleaned


def markdown_form(*names: str) -> type[MarkdownCheckedForm]:
    return type("MarkdownForm", (MarkdownCheckedForm,), {"markdown_fields": names})


class SearchIndexedAdmin(admin.ModelAdmin):
    """Saving or deleting a row here re-indexes it for search (after the commit)."""

    search_kind = ""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        search_services.search_index_schedule(self.search_kind, [obj.slug])

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        search_services.search_index_schedule(self.search_kind, [obj.slug])  # get_document() is None now: dropped

    def delete_queryset(self, request, queryset):
        slugs = list(queryset.values_list("slug", flat=True))
        super().delete_queryset(request, queryset)
        search_services.search_index_schedule(self.search_kind, slugs)


class TopicInline(admin.TabularInline):
    model = Topic
    fields = ("order", "slug", "title", "sub_track")
    readonly_fields = ("slug",)
    extra = 0
    show_change_link = True


@admin.register(Phase)
class PhaseAdmin(admin.ModelAdmin):
    form = markdown_form("summary")
    list_display = ("number", "title", "slug", "week_start", "week_end")
    search_fields = ("title", "slug", "goal")
    inlines = [TopicInline]

    def get_readonly_fields(self, request, obj=None):
        return ("slug",) if obj else ()


@admin.register(Topic)
class TopicAdmin(SearchIndexedAdmin):
    search_kind = "topic"
    form = markdown_form("summary")
    list_display = ("title", "slug", "phase", "sub_track", "order", "article")
    list_filter = ("phase", "sub_track")
    search_fields = ("title", "slug", "summary")
    list_select_related = ("phase", "article")
    autocomplete_fields = ("prerequisites", "article")

    def get_readonly_fields(self, request, obj=None):
        # Slugs are the stable ids progress and links point at: never edited once made.
        return ("slug",) if obj else ()


class RevisionInline(admin.TabularInline):
    model = ArticleRevision
    fields = ("version", "created_at", "author", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-version",)
    max_num = 0  # revisions are only ever added by the services


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "section", "status", "version", "updated_by", "updated_at")
    list_filter = ("status", "section")
    search_fields = ("title", "slug", "summary", "body")
    list_select_related = ("updated_by",)
    readonly_fields = (
        "editor_link",
        "slug",
        "title",
        "section",
        "summary",
        "order",
        "status",
        "version",
        "updated_by",
        "published_at",
        "body",
    )
    fields = readonly_fields
    inlines = [RevisionInline]
    actions = ["publish_selected", "unpublish_selected"]
    search_help_text = "Title, slug, summary or text."

    @admin.display(description="Edit")
    def editor_link(self, obj: Article) -> str:
        url = reverse("curriculum:author-article-edit", args=[obj.slug])
        history = reverse("curriculum:author-article-revisions", args=[obj.slug])
        return format_html(
            '<a class="button" href="{}">Open in the author editor</a> &nbsp; <a href="{}">History and restore</a>',
            url,
            history,
        )

    def add_view(self, request, form_url="", extra_context=None):
        # New articles start in the editor, which creates the first revision.
        return redirect("curriculum:author-article-create")

    def has_change_permission(self, request, obj=None):
        # View-only here: saving from the admin would skip revisions and the conflict guard.
        return False

    def _bulk(self, request, queryset, action, done: str) -> None:
        count = 0
        for article in queryset:
            try:
                action(article, user=request.user)
                count += 1
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
        self.message_user(request, f"{count} article(s) {done}.", messages.SUCCESS)

    @admin.action(description="Publish selected articles", permissions=["publish"])
    def publish_selected(self, request, queryset):
        self._bulk(request, queryset, services.article_publish, "published")

    @admin.action(description="Unpublish selected articles (back to draft)", permissions=["publish"])
    def unpublish_selected(self, request, queryset):
        self._bulk(request, queryset, services.article_unpublish, "unpublished")

    def has_publish_permission(self, request) -> bool:
        return request.user.has_perm("curriculum.publish_article")


@admin.register(ArticleRevision)
class ArticleRevisionAdmin(admin.ModelAdmin):
    list_display = ("article", "version", "author", "created_at", "note")
    list_filter = ("article__section",)
    search_fields = ("article__slug", "article__title", "note")
    list_select_related = ("article", "author")
    readonly_fields = ("article", "version", "title", "summary", "body", "author", "created_at", "note")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # history only grows


@admin.register(GlossaryTerm)
class GlossaryTermAdmin(SearchIndexedAdmin):
    search_kind = "glossary"
    form = markdown_form("long")
    list_display = ("term", "slug", "short")
    search_fields = ("term", "slug", "aliases", "short", "long")

    def get_readonly_fields(self, request, obj=None):
        return ("slug",) if obj else ()


@admin.register(Resource)
class ResourceAdmin(SearchIndexedAdmin):
    search_kind = "resource"
    list_display = ("title", "kind", "cost", "author", "year")
    list_filter = ("kind", "cost")
    search_fields = ("title", "slug", "author", "description")
    autocomplete_fields = ("topics",)

    def get_readonly_fields(self, request, obj=None):
        return ("slug",) if obj else ()


@admin.register(MilestoneProject)
class MilestoneProjectAdmin(admin.ModelAdmin):
    form = markdown_form("description")
    list_display = ("title", "slug", "phase", "order")
    list_filter = ("phase",)
    search_fields = ("title", "slug", "description")


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = ("text", "slug", "phase", "order")
    list_filter = ("phase",)
    search_fields = ("text", "slug")


@admin.register(TopicProgress)
class TopicProgressAdmin(admin.ModelAdmin):
    list_display = ("user", "topic", "status", "updated_at")
    list_filter = ("status", "topic__phase")
    search_fields = ("user__username", "topic__slug")
    list_select_related = ("user", "topic")
    raw_id_fields = ("user", "topic")


@admin.register(ChecklistTick)
class ChecklistTickAdmin(admin.ModelAdmin):
    list_display = ("user", "item", "ticked_at")
    list_filter = ("item__phase",)
    search_fields = ("user__username", "item__slug")
    list_select_related = ("user", "item")
    raw_id_fields = ("user", "item")


@admin.register(ArticleRead)
class ArticleReadAdmin(admin.ModelAdmin):
    list_display = ("user", "article", "read_at")
    search_fields = ("user__username", "article__slug")
    list_select_related = ("user", "article")
    raw_id_fields = ("user", "article")
