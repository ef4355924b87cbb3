from django.urls import path

from apps.labs.consumers import LabJobConsumer

websocket_urlpatterns = [path("ws/labs/jobs/<uuid:job_id>/", LabJobConsumer.as_asgi())]
