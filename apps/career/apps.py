from django.apps import AppConfig


class CareerConfig(AppConfig):
    name = "apps.career"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.career import home
        from apps.career.models import GuideEntry, GuideList, JobReadyEstimate, Role, SalaryBand, Track
        from apps.career.readiness_models import ReadinessItem
        from apps.core.content_cache import track_content

        home.register()
        # The catalogue (tracks, roles, salaries, estimates, guide lists, readiness items) is
        # content: its API answers are cached per content generation.
        track_content(Track, Role, SalaryBand, JobReadyEstimate, GuideList, GuideEntry, ReadinessItem)
