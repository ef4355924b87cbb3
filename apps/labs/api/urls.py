from django.urls import path

from apps.labs.api import views

urlpatterns = [
    path("", views.LabListApi.as_view(), name="api-labs"),
    path("jobs/", views.LabJobCollectionApi.as_view(), name="api-labjobs"),
    path("jobs/compare/", views.LabJobCompareApi.as_view(), name="api-labjobs-compare"),
    path("jobs/<uuid:job_id>/", views.LabJobDetailApi.as_view(), name="api-labjob"),
    path("jobs/<uuid:job_id>/rerun/", views.LabJobRerunApi.as_view(), name="api-labjob-rerun"),
    path("jobs/<uuid:job_id>/events/", views.LabJobEventListApi.as_view(), name="api-labjob-events"),
    path("jobs/<uuid:job_id>/cancel/", views.LabJobCancelApi.as_view(), name="api-labjob-cancel"),
    path("jobs/<uuid:job_id>/files/", views.LabJobFilesApi.as_view(), name="api-labjob-files"),
    path("jobs/<uuid:job_id>/artifacts/<int:artifact_id>/", views.LabJobArtifactDownloadApi.as_view(),
         name="api-labjob-artifact"),
]
