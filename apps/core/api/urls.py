from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from apps.core.api.views import MeApi

urlpatterns = [
    path("me/", MeApi.as_view(), name="api-me"),
    path("auth/token/", obtain_auth_token, name="api-token"),
]
