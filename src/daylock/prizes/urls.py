from django.urls import URLPattern, URLResolver

app_name = "prizes"
urlpatterns: list[URLPattern | URLResolver] = []
