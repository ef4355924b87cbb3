"""Django's ModelBackend with each user's permissions kept in the cache between requests.

Signed-in pages check permissions for the navigation (explicit permissions, not roles or
``is_staff``), which costs ModelBackend two queries per request. Here the two permission
sets are cached per user under a *permission generation*: any change to who is in which
group, a user's own permissions, a group's permissions, or a group or permission itself
replaces the generation, so a revoked permission stops working on the next request.
``is_active`` is read from the user row on every request, as before; ``is_superuser`` is
part of the key.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save

from apps.core.generations import Generation

PERMISSIONS = Generation("auth:permission-generation")
TTL = 60 * 60  # seconds


def permissions_changed(**kwargs: Any) -> None:
    PERMISSIONS.bump()


class CachedPermissionsModelBackend(ModelBackend):
    def _get_permissions(self, user_obj, obj, from_name):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        perm_cache_name = f"_{from_name}_perm_cache"
        if not hasattr(user_obj, perm_cache_name):
            # A superuser has every permission: the flag is part of the key.
            key = f"auth:perms:{PERMISSIONS.current()}:{user_obj.pk}:{int(user_obj.is_superuser)}:{from_name}"
            perms = cache.get(key)
            if perms is None:
                perms = super()._get_permissions(user_obj, obj, from_name)
                cache.set(key, perms, TTL)
            setattr(user_obj, perm_cache_name, set(perms))
        return getattr(user_obj, perm_cache_name)


def connect() -> None:
    User = get_user_model()
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(permissions_changed, sender=through, dispatch_uid=f"auth.perms.{through.__name__}")
    for model in (Group, Permission):
        post_save.connect(permissions_changed, sender=model, dispatch_uid=f"auth.perms.save.{model.__name__}")
        post_delete.connect(permissions_changed, sender=model, dispatch_uid=f"auth.perms.delete.{model.__name__}")
