"""Mounted under ``/staff/testtools/`` only where the policy has ``test_utilities``
(see ``daylock.urls``): in production none of these paths exist."""

from django.urls import URLPattern, URLResolver, path

from daylock.staging import views

app_name = "staging"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("audit/", views.audit, name="audit"),
    path("unlock-day/", views.unlock_day, name="unlock_day"),
    path("complete/", views.complete, name="complete"),
    path("clock/", views.clock_move, name="clock"),
    path("eligibility/", views.eligibility, name="eligibility"),
]
