from django.urls import URLPattern, URLResolver, path

from daylock.accounts import views

app_name = "accounts"
urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", views.login_page, name="login"),
    # Must equal config.OAUTH_CALLBACK_PATH (mounted under /auth/).
    path("discord/callback/", views.discord_callback, name="discord-callback"),
    path("logout/", views.logout_view, name="logout"),
]
