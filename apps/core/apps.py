from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.core.roles import role_groups_sync

        # Permissions of every app exist only after its migrations ran: sync groups then.
        post_migrate.connect(role_groups_sync, dispatch_uid="core.role_groups_sync")
