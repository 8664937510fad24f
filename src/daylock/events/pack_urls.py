"""Mounted at ``/staff/packs/``: the event pack pages (see :mod:`daylock.events.pack_views`)."""

from django.urls import URLPattern, URLResolver, path

from daylock.events import pack_views

app_name = "packs"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", pack_views.pack_upload, name="upload"),
    path("apply/", pack_views.pack_apply, name="apply"),
    path("export/<slug:slug>.json", pack_views.pack_download, name="export"),
]
