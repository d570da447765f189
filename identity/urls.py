from django.urls import path

from identity import apis

urlpatterns = [
    path("auth/register", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/logout-all", apis.LogoutEverywhereApi.as_view(), name="auth-logout-all"),
    path("auth/me", apis.MeApi.as_view(), name="auth-me"),
    path("identity/verify", apis.VerifyApi.as_view(), name="identity-verify"),
]
