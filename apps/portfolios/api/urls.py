from django.urls import path

from apps.portfolios.api import views

urlpatterns = [
    path("me/", views.PortfolioMeCollectionApi.as_view(), name="api-portfolio-me"),
    path("me/publish/", views.PortfolioPublishApi.as_view(), name="api-portfolio-publish"),
    path("me/unpublish/", views.PortfolioUnpublishApi.as_view(), name="api-portfolio-unpublish"),
    path("me/projects/", views.ProjectCollectionApi.as_view(), name="api-portfolio-projects"),
    path("me/projects/<int:project_id>/", views.ProjectResourceApi.as_view(), name="api-portfolio-project"),
    path(
        "me/projects/<int:project_id>/evidence/",
        views.EvidenceAttachApi.as_view(),
        name="api-portfolio-evidence-attach",
    ),
    path(
        "me/projects/<int:project_id>/evidence/<int:evidence_id>/",
        views.EvidenceDetachApi.as_view(),
        name="api-portfolio-evidence",
    ),
    path("published/", views.PublishedPortfolioListApi.as_view(), name="api-portfolios-published"),
    path("published/<uuid:public_id>/", views.PublishedPortfolioDetailApi.as_view(), name="api-portfolio-published"),
    path("shortlists/", views.ShortlistCollectionApi.as_view(), name="api-shortlists"),
    path("shortlists/<int:shortlist_id>/", views.ShortlistResourceApi.as_view(), name="api-shortlist"),
    path("shortlists/<int:shortlist_id>/entries/", views.ShortlistEntryAddApi.as_view(), name="api-shortlist-entries"),
    path(
        "shortlists/<int:shortlist_id>/entries/<int:entry_id>/",
        views.ShortlistEntryResourceApi.as_view(),
        name="api-shortlist-entry",
    ),
]
