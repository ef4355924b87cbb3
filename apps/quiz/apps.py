from django.apps import AppConfig


class QuizConfig(AppConfig):
    name = "apps.quiz"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process (web, worker, management command) knows the same search sources.
        from apps.core.content_cache import track_content
        from apps.curriculum.mastery import register_mastery_source
        from apps.quiz import home, search_sources
        from apps.quiz.models import Question
        from apps.quiz.selectors import topic_mastery_percent

        search_sources.register()
        home.register()
        register_mastery_source(topic_mastery_percent)  # drawn on the roadmap's topics
        track_content(Question)  # the bank's API answers are cached per content generation
