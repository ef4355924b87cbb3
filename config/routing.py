"""Websocket routes of every app. Consumers authorize; services send the events."""

from apps.core.routing import websocket_urlpatterns as core_ws
from apps.labs.routing import websocket_urlpatterns as labs_ws

websocket_urlpatterns = [*core_ws, *labs_ws]
