"""One ASGI application for pages, the API and websockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django must be set up before anything imports models (the websocket routes do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402


def _warm_up_embeddings() -> None:
    """Load the search model in the background, so the first search does not wait ~6 s for it."""
    import threading

    from django.conf import settings

    if settings.EMBEDDING_WARM_UP:
        from apps.core.embeddings import warm_up

        threading.Thread(target=warm_up, name="embedding-warm-up", daemon=True).start()


_warm_up_embeddings()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
