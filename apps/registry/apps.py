from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "apps.registry"
    verbose_name = "Model and dataset registry"
    default_auto_field = "django.db.models.BigAutoField"
