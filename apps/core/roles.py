"""Roles are Django groups. Each role's permissions are declared here, in one place."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

LEARNER = "learner"
AUTHOR = "author"
HIRING_MANAGER = "hiring_manager"
# Support staff may look at and stop any learner's lab job (granted to nobody by default).
SUPPORT = "support"
ROLES = (LEARNER, AUTHOR, HIRING_MANAGER, SUPPORT)

# "app_label.codename" per role. Apps add their models' permissions here as they grow;
# a codename whose model does not exist yet is skipped (and picked up after its migration).
ROLE_PERMISSIONS: dict[str, list[str]] = {
    LEARNER: ["portfolios.keep_portfolio", "labs.run_labs"],
    AUTHOR: [
        "curriculum.add_article", "curriculum.change_article", "curriculum.view_article",
        "curriculum.add_glossaryterm", "curriculum.change_glossaryterm", "curriculum.view_glossaryterm",
        "curriculum.add_resource", "curriculum.change_resource", "curriculum.view_resource",
        "curriculum.add_topic", "curriculum.change_topic", "curriculum.view_topic",
        "curriculum.change_phase", "curriculum.view_phase",
        "curriculum.add_milestoneproject", "curriculum.change_milestoneproject",
        "curriculum.add_checklistitem", "curriculum.change_checklistitem",
        "curriculum.view_articlerevision",
        "curriculum.publish_article", "curriculum.view_milestoneproject", "curriculum.view_checklistitem",
        # Authors write labs' pages and try them as a learner would.
        "labs.run_labs",
    ],
    HIRING_MANAGER: ["portfolios.browse_portfolios"],
    SUPPORT: ["labs.view_any_labjob", "labs.cancel_any_labjob", "credentials.revoke_credential"],
}


def user_has_role(user: Any, role: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return role in user_role_names(user)


def user_role_names(user: Any) -> frozenset[str]:
    """The user's role names: one query per user object (a page asks about roles many
    times), forgotten when that object's groups change (``forget_roles``)."""
    names = getattr(user, "_role_names", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        user._role_names = names
    return names


def forget_roles(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    """m2m_changed on User.groups: the memo on that user object is stale."""
    if action.startswith("post_") and hasattr(instance, "_role_names"):
        del instance._role_names


def role_groups_sync(**kwargs: Any) -> None:
    """Create the role groups and give them their declared permissions (idempotent)."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ROLE_PERMISSIONS.get(role, [])
        perms = []
        for dotted in wanted:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.add(*perms)
