from django.apps import AppConfig


class CareerConfig(AppConfig):
    name = "apps.career"
    default_auto_field = "django.db.models.BigAutoField"
