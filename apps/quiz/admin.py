from django.contrib import admin

from apps.quiz.models import Attempt, Grade, MockSession, Question, ReviewState


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("slug", "category", "difficulty", "phase", "grading_version")
    list_filter = ("category", "difficulty", "phase")
    search_fields = ("slug", "prompt")


class GradeInline(admin.TabularInline):
    model = Grade
    extra = 0
    readonly_fields = ("grader", "score", "grading_version", "reviewer", "note", "created_at")
    fields = readonly_fields
    can_delete = False


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ("pk", "user", "question", "status", "score", "grader", "created_at")
    list_filter = ("status", "grader")
    raw_id_fields = ("user", "question", "mock")
    inlines = [GradeInline]


admin.site.register(ReviewState)
admin.site.register(MockSession)
