from django.apps import AppConfig


class PortfoliosConfig(AppConfig):
    name = "apps.portfolios"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.portfolios import home

        home.register()
