from django.urls import path

from apps.curriculum.api import views

urlpatterns = [
    path("phases/", views.PhaseListApi.as_view(), name="api-curriculum-phases"),
    path("phases/<slug:slug>/", views.PhaseDetailApi.as_view(), name="api-curriculum-phase"),
    path("topics/", views.TopicListApi.as_view(), name="api-curriculum-topics"),
    path("topics/<slug:slug>/", views.TopicDetailApi.as_view(), name="api-curriculum-topic"),
    path("articles/", views.ArticleListApi.as_view(), name="api-curriculum-articles"),
    path("articles/<slug:slug>/", views.ArticleDetailApi.as_view(), name="api-curriculum-article"),
    path("articles/<slug:slug>/publish/", views.ArticlePublishApi.as_view(), name="api-curriculum-article-publish"),
    path(
        "articles/<slug:slug>/unpublish/", views.ArticleUnpublishApi.as_view(), name="api-curriculum-article-unpublish"
    ),
    path(
        "articles/<slug:slug>/revisions/",
        views.ArticleRevisionListApi.as_view(),
        name="api-curriculum-article-revisions",
    ),
    path(
        "articles/<slug:slug>/revisions/<int:version>/restore/",
        views.ArticleRevisionRestoreApi.as_view(),
        name="api-curriculum-article-revision-restore",
    ),
    path("glossary/", views.GlossaryListApi.as_view(), name="api-curriculum-glossary"),
    path("glossary/<slug:slug>/", views.GlossaryDetailApi.as_view(), name="api-curriculum-glossary-term"),
    path("resources/", views.ResourceListApi.as_view(), name="api-curriculum-resources"),
    path("resources/<slug:slug>/", views.ResourceDetailApi.as_view(), name="api-curriculum-resource"),
    path("progress/", views.ProgressApi.as_view(), name="api-curriculum-progress"),
    path("progress/topics/<slug:slug>/", views.TopicProgressApi.as_view(), name="api-curriculum-progress-topic"),
    path("progress/checklist/<slug:slug>/", views.ChecklistTickApi.as_view(), name="api-curriculum-progress-checklist"),
]
