"""Version 1 of the REST API: one include per app."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.api.urls")),
    path("", include("apps.core.search.api_urls")),
    path("curriculum/", include("apps.curriculum.api.urls")),
    path("labs/", include("apps.labs.api.urls")),
    path("career/", include("apps.career.api.urls")),
    path("quiz/", include("apps.quiz.api.urls")),
    path("portfolios/", include("apps.portfolios.api.urls")),
    path("credentials/", include("apps.credentials.api.urls")),
    path("tutor/", include("apps.tutor.api.urls")),
]
