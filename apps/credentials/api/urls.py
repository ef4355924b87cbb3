from django.urls import path

from apps.credentials.api import views

urlpatterns = [
    path("", views.CredentialIssueApi.as_view(), name="api-credential-issue"),
    path("verify/", views.CredentialVerifyApi.as_view(), name="api-credential-verify"),
    path("<uuid:credential_id>/", views.CredentialDetailApi.as_view(), name="api-credential"),
    path("<uuid:credential_id>/revoke/", views.CredentialRevokeApi.as_view(), name="api-credential-revoke"),
]
