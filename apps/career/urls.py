from __future__ import annotations

from django.urls import path

from apps.career import readiness_views, views

app_name = "career"
urlpatterns = [
    path("", views.index, name="index"),
    path("roles/<slug:slug>/", views.role, name="role"),
    path("compare/", views.compare, name="compare"),
    path("salaries/", views.salaries, name="salaries"),
    path("job-ready/", views.job_ready, name="job-ready"),
    path("guide/", views.guide_index, name="guide-index"),
    path("guide/<slug:slug>/", views.guide, name="guide"),
    # Job readiness (readiness_views): the signed-in learner's own targets, scores and ticks.
    path("readiness/", readiness_views.readiness_index, name="readiness"),
    path("readiness/roles/<slug:slug>/", readiness_views.readiness_role, name="readiness-role"),
    path("readiness/targets/", readiness_views.readiness_target_add, name="readiness-target-add"),
    path(
        "readiness/targets/<slug:slug>/remove/",
        readiness_views.readiness_target_remove,
        name="readiness-target-remove",
    ),
    path("readiness/items/<slug:slug>/toggle/", readiness_views.readiness_item_toggle, name="readiness-item-toggle"),
]
