from django.urls import path, re_path

from apps.credentials import views

app_name = "credentials"
urlpatterns = [
    path("", views.verify, name="verify"),
    path("verify/<uuid:credential_id>/", views.verify_by_id, name="verify-id"),
    path("issuer.json", views.issuer, name="issuer"),
    path("jwks.json", views.jwks, name="jwks"),
    path("status/revocation", views.status_list, name="status-list"),
    path("jobs/<uuid:job_id>/", views.job_credential, name="job"),
    path("<uuid:credential_id>/withdraw/", views.withdraw, name="withdraw"),
    re_path(r"^(?P<credential_id>[0-9a-f-]{36})/credential\.(?P<fmt>jwt|json|png)$", views.download, name="download"),
]
