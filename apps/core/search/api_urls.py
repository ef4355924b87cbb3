from django.urls import path

from apps.core.search.api import SearchApi

urlpatterns = [
    path("search/", SearchApi.as_view(), name="api-search"),
]
