from django.urls import path

from apps.quiz import views

app_name = "quiz"

urlpatterns = [
    path("", views.index, name="index"),
    path("q/<slug:slug>/", views.question, name="question"),
    path("q/<slug:slug>/answer/", views.answer, name="answer"),
    path("attempts/<int:pk>/", views.attempt, name="attempt"),
    path("attempts/<int:pk>/rate/", views.rate, name="rate"),
    path("attempts/<int:pk>/override/", views.override, name="override"),
    path("queue/", views.queue, name="queue"),
    path("review/", views.review, name="review"),
    path("mock/", views.mock_index, name="mock-index"),
    path("mock/start/", views.mock_start, name="mock-start"),
    path("mock/<int:pk>/", views.mock, name="mock"),
    path("mock/<int:pk>/answer/<slug:slug>/", views.mock_answer, name="mock-answer"),
    path("mock/<int:pk>/finish/", views.mock_finish, name="mock-finish"),
]
