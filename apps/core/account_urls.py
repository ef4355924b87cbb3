from django.contrib.auth import views as auth_views
from django.urls import path

from apps.core import views
from apps.core.throttles import throttle_post

# Login attempts are limited by django-axes (settings: AXES_*); the password change form
# checks the old password without authenticate(), so it gets its own per-account rate.
urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        throttle_post("password_change", "password change", per_user=True)(auth_views.PasswordChangeView.as_view()),
        name="password_change",
    ),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
