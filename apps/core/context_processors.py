from django.conf import settings

from apps.core import roles


def site(request):
    user = getattr(request, "user", None)
    return {
        "SITE_NAME": settings.SITE_NAME,
        "is_author": roles.user_has_role(user, roles.AUTHOR) if user else False,
        "is_hiring_manager": roles.user_has_role(user, roles.HIRING_MANAGER) if user else False,
    }
