"""The staff event editor, mounted at ``/staff/events/`` (see :mod:`.editor_views`)."""

from django.urls import URLPattern, URLResolver, path

from daylock.events import editor_views

app_name = "editor"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", editor_views.event_list, name="list"),
    path("new/", editor_views.event_new, name="new"),
    path("directory/refresh/", editor_views.directory_refresh, name="directory_refresh"),
    path("<slug:slug>/edit/", editor_views.event_edit, name="edit"),
    path("<slug:slug>/prizes/new/", editor_views.prize_new, name="prize_new"),
    path("<slug:slug>/prizes/<int:prize_id>/edit/", editor_views.prize_edit, name="prize_edit"),
    path("<slug:slug>/preview/<int:number>/", editor_views.day_preview, name="preview"),
]
