from __future__ import annotations

from django.urls import path

from apps.quiz.api import views

urlpatterns = [
    path("questions/", views.QuestionListApi.as_view(), name="api-quiz-questions"),
    path("questions/<slug:slug>/", views.QuestionDetailApi.as_view(), name="api-quiz-question"),
    path("attempts/", views.AttemptListApi.as_view(), name="api-quiz-attempts"),
    path("attempts/<int:pk>/", views.AttemptDetailApi.as_view(), name="api-quiz-attempt"),
    path("attempts/<int:pk>/rating/", views.AttemptRatingApi.as_view(), name="api-quiz-attempt-rating"),
    path("attempts/<int:pk>/override/", views.AttemptOverrideApi.as_view(), name="api-quiz-attempt-override"),
    path("attempts/<int:pk>/regrade/", views.AttemptRegradeApi.as_view(), name="api-quiz-attempt-regrade"),
    path("queue/", views.QueueApi.as_view(), name="api-quiz-queue"),
    path("mocks/", views.MockListApi.as_view(), name="api-quiz-mocks"),
    path("mocks/<int:pk>/", views.MockDetailApi.as_view(), name="api-quiz-mock"),
    path("mocks/<int:pk>/finish/", views.MockFinishApi.as_view(), name="api-quiz-mock-finish"),
]
