from django.apps import AppConfig


class CurriculumConfig(AppConfig):
    name = "apps.curriculum"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process (web, worker, management command) must know the same search
        # sources, so they are registered at start-up rather than on first use.
        from apps.curriculum import content_cache, home, search_sources

        search_sources.register()
        home.register()
        content_cache.connect()
