from django.urls import path

from apps.labs import views

app_name = "labs"
urlpatterns = [
    path("", views.lab_index, name="index"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/compare/", views.job_compare, name="job-compare"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:job_id>/rerun/", views.job_rerun, name="job-rerun"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<uuid:job_id>/files/delete/", views.job_files_delete, name="job-files-delete"),
    path("jobs/<uuid:job_id>/artifacts/<int:artifact_id>/", views.artifact_download, name="artifact-download"),
    path("<slug:slug>/", views.lab_detail, name="detail"),
]
