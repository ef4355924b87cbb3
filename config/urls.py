from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from apps.credentials import views as credential_views

urlpatterns = [
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.core.account_urls")),
    path("search/", include("apps.core.search.urls")),
    path("learn/", include("apps.curriculum.urls")),
    path("labs/", include("apps.labs.urls")),
    path("career/", include("apps.career.urls")),
    path("quiz/", include("apps.quiz.urls")),
    path("portfolios/", include("apps.portfolios.urls")),
    path("credentials/", include("apps.credentials.urls")),
    path("tutor/", include("apps.tutor.urls")),
    # The issuer's did:web document: where any verifier finds the keys credentials name.
    path(".well-known/did.json", credential_views.did_document, name="did-document"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Redoc injects <style> elements (styled-components) and runs its search in a blob: worker:
    # allowed on this page only; scripts stay 'self', and its Redocly logo from a CDN stays blocked.
    path(
        "api/redoc/",
        csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="api-schema")
        ),
        name="api-redoc",
    ),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
# No MEDIA_URL route, not even with DEBUG: learners' files are served only by views that
# check who asks (issue 14: an HTML artifact ran on the site's origin).
