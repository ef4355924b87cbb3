from django.apps import AppConfig


class CareerConfig(AppConfig):
    name = "apps.career"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.career import home

        home.register()
