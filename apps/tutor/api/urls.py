from django.urls import path

from apps.tutor.api import views

urlpatterns = [
    path("questions/", views.TutorQuestionsApi.as_view(), name="tutor-api-questions"),
    path("conversations/", views.TutorConversationsApi.as_view(), name="tutor-api-conversations"),
    path("playground/runs/", views.PlaygroundRunsApi.as_view(), name="tutor-api-playground-runs"),
    path("conversations/<int:conversation_id>/", views.TutorConversationApi.as_view(), name="tutor-api-conversation"),
]
