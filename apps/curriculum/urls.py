from django.urls import path

from apps.curriculum import views

app_name = "curriculum"
urlpatterns = [
    path("", views.roadmap, name="roadmap"),
    path("phases/<slug:slug>/", views.phase, name="phase"),
    path("topics/<slug:slug>/", views.topic, name="topic"),
    path("topics/<slug:slug>/progress/", views.topic_progress, name="topic-progress"),
    path("checklist/<slug:slug>/toggle/", views.checklist_toggle, name="checklist-toggle"),
    path("articles/", views.article_index, name="articles"),
    path("articles/<slug:slug>/", views.article, name="article"),
    path("articles/<slug:slug>/done/", views.article_done, name="article-done"),
    path("glossary/", views.glossary, name="glossary"),
    path("resources/", views.resources, name="resources"),
    path("resources/<slug:slug>/", views.resource, name="resource"),
    # Author area (authors only): editor with live preview, publish, history, restore.
    path("author/", views.author_articles, name="author-articles"),
    path("author/preview/", views.author_preview, name="author-preview"),
    path("author/articles/new/", views.author_article_create, name="author-article-create"),
    path("author/articles/<slug:slug>/", views.author_article_edit, name="author-article-edit"),
    path("author/articles/<slug:slug>/publish/", views.author_article_publish, name="author-article-publish"),
    path("author/articles/<slug:slug>/revisions/", views.author_article_revisions, name="author-article-revisions"),
    path(
        "author/articles/<slug:slug>/revisions/<int:version>/",
        views.author_article_revision,
        name="author-article-revision",
    ),
    path(
        "author/articles/<slug:slug>/revisions/<int:version>/restore/",
        views.author_article_revision_restore,
        name="author-article-revision-restore",
    ),
]
