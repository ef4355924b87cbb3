from django.apps import AppConfig


class PortfoliosConfig(AppConfig):
    name = "apps.portfolios"
    default_auto_field = "django.db.models.BigAutoField"
