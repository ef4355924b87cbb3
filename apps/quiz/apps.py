from django.apps import AppConfig


class QuizConfig(AppConfig):
    name = "apps.quiz"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process (web, worker, management command) knows the same search sources.
        from apps.quiz import home, search_sources

        search_sources.register()
        home.register()
