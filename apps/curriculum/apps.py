from django.apps import AppConfig


class CurriculumConfig(AppConfig):
    name = "apps.curriculum"
    default_auto_field = "django.db.models.BigAutoField"
