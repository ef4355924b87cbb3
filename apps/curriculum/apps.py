from django.apps import AppConfig


class CurriculumConfig(AppConfig):
    name = "apps.curriculum"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process (web, worker, management command) must know the same search
        # sources, so they are registered at start-up rather than on first use.
        from apps.core.content_cache import track_content
        from apps.curriculum import home, search_sources
        from apps.curriculum.models import (
            Article,
            ChecklistItem,
            GlossaryTerm,
            MilestoneProject,
            Phase,
            Resource,
            Topic,
        )

        search_sources.register()
        home.register()
        track_content(Phase, Topic, MilestoneProject, ChecklistItem, Article, GlossaryTerm, Resource)
