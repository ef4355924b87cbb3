from django.apps import AppConfig


class LabsConfig(AppConfig):
    name = "apps.labs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.labs import home

        home.register()
