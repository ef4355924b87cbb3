from django.urls import path

from apps.tutor import views

app_name = "tutor"

urlpatterns = [
    path("", views.tutor_page, name="page"),
    path("ask/", views.tutor_ask_view, name="ask"),
    path("stream/", views.tutor_stream_view, name="stream"),
    path("conversations/<int:conversation_id>/delete/", views.tutor_conversation_delete_view, name="delete"),
    path("playground/", views.playground_page, name="playground"),
    path("history/delete/", views.tutor_history_delete_view, name="history-delete"),
]
