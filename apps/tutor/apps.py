from django.apps import AppConfig


class TutorConfig(AppConfig):
    name = "apps.tutor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from apps.llm.registry import reset_providers
        from apps.tutor import home

        home.register()

        def providers_changed(*, setting, **kwargs) -> None:
            if setting == "LLM_PROVIDERS":
                reset_providers()

        setting_changed.connect(providers_changed, weak=False, dispatch_uid="tutor-llm-providers")
