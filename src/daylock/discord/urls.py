from django.urls import URLPattern, URLResolver

app_name = "discord"
urlpatterns: list[URLPattern | URLResolver] = []
