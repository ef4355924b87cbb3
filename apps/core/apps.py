from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_migrate

        from apps.core import auth_backends
        from apps.core.roles import forget_roles, role_groups_sync

        # Permissions of every app exist only after its migrations ran: sync groups then.
        post_migrate.connect(role_groups_sync, dispatch_uid="core.role_groups_sync")
        auth_backends.connect()
        m2m_changed.connect(forget_roles, sender=get_user_model().groups.through, dispatch_uid="core.forget_roles")
