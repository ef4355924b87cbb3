from django.urls import path

from apps.portfolios import views

app_name = "portfolios"
urlpatterns = [
    path("", views.index, name="index"),
    path("me/", views.mine, name="mine"),
    path("me/publish/", views.publish, name="publish"),
    path("me/unpublish/", views.unpublish, name="unpublish"),
    path("me/projects/new/", views.project_new, name="project-new"),
    path("me/projects/<int:project_id>/", views.project_edit, name="project"),
    path("me/projects/<int:project_id>/delete/", views.project_delete, name="project-delete"),
    path("me/projects/<int:project_id>/evidence/", views.evidence_attach, name="evidence-attach"),
    path(
        "me/projects/<int:project_id>/evidence/<int:evidence_id>/remove/", views.evidence_remove, name="evidence-remove"
    ),
    path("p/<uuid:public_id>/", views.public, name="public"),
    path(
        "p/<uuid:public_id>/results/<int:evidence_id>/images/<int:artifact_id>/",
        views.evidence_image,
        name="evidence-image",
    ),
    path("candidates/", views.candidates, name="candidates"),
    path("shortlists/", views.shortlists, name="shortlists"),
    path("shortlists/add/", views.shortlist_add, name="shortlist-add"),
    path("shortlists/<int:shortlist_id>/", views.shortlist_detail, name="shortlist"),
    path("shortlists/<int:shortlist_id>/rename/", views.shortlist_rename, name="shortlist-rename"),
    path("shortlists/<int:shortlist_id>/delete/", views.shortlist_delete, name="shortlist-delete"),
    path("shortlists/<int:shortlist_id>/export.csv", views.shortlist_export, name="shortlist-export"),
    path("shortlists/<int:shortlist_id>/entries/<int:entry_id>/note/", views.entry_note, name="entry-note"),
    path("shortlists/<int:shortlist_id>/entries/<int:entry_id>/remove/", views.entry_remove, name="entry-remove"),
]
