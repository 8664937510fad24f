"""Mounted at ``/staff/outbox/``."""

from django.urls import URLPattern, URLResolver, path

from daylock.discord import views

app_name = "discord"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.outbox_list, name="outbox_list"),
    path("resume/", views.outbox_resume, name="outbox_resume"),
    path("<int:message_id>/", views.outbox_detail, name="outbox_detail"),
    path("<int:message_id>/retry/", views.outbox_retry, name="outbox_retry"),
    path("<int:message_id>/resend/", views.outbox_resend, name="outbox_resend"),
    path("<int:message_id>/discard/", views.outbox_discard, name="outbox_discard"),
]
