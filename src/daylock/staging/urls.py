from django.urls import URLPattern, URLResolver

app_name = "staging"
urlpatterns: list[URLPattern | URLResolver] = []
