from __future__ import annotations

from django.urls import path

from apps.career.api import readiness_views, views

urlpatterns = [
    path("roles/", views.RoleListApi.as_view(), name="api-career-roles"),
    path("roles/<slug:slug>/", views.RoleDetailApi.as_view(), name="api-career-role"),
    path("salaries/", views.SalaryListApi.as_view(), name="api-career-salaries"),
    path("job-ready/", views.JobReadyListApi.as_view(), name="api-career-job-ready"),
    path("guide-lists/", views.GuideListApi.as_view(), name="api-career-guide-lists"),
    # Job readiness: the caller's own (readiness_views).
    path("readiness/", readiness_views.ReadinessOverviewApi.as_view(), name="api-career-readiness"),
    path("readiness/items/", readiness_views.ReadinessItemListApi.as_view(), name="api-career-readiness-items"),
    path(
        "readiness/items/<slug:slug>/tick/",
        readiness_views.ReadinessTickApi.as_view(),
        name="api-career-readiness-item-tick",
    ),
    path("readiness/roles/<slug:slug>/", readiness_views.ReadinessRoleApi.as_view(), name="api-career-readiness-role"),
    path(
        "readiness/targets/<slug:slug>/",
        readiness_views.ReadinessTargetApi.as_view(),
        name="api-career-readiness-target",
    ),
]
