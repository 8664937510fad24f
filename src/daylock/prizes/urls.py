"""Mounted at ``/prizes/``: public draw pages, my prizes, and staff pages."""

from django.urls import URLPattern, URLResolver, path

from daylock.prizes import views

app_name = "prizes"
urlpatterns: list[URLPattern | URLResolver] = [
    path("draws/<int:draw_id>/", views.draw_detail, name="draw_detail"),
    path("draws/<int:draw_id>/record.json", views.draw_record, name="draw_record"),
    path("draws/<int:draw_id>/entrants.txt", views.draw_entrants, name="draw_entrants"),
    path("mine/", views.my_prizes, name="mine"),
    path("staff/", views.staff_events, name="staff_events"),
    path("staff/events/<slug:slug>/", views.staff_event, name="staff_event"),
    path("staff/prizes/<int:prize_id>/", views.staff_prize, name="staff_prize"),
    path("staff/prizes/<int:prize_id>/close/", views.staff_close, name="staff_close"),
    path(
        "staff/prizes/<int:prize_id>/sync-members/",
        views.staff_sync_members,
        name="staff_sync_members",
    ),
    path("staff/prizes/<int:prize_id>/run/", views.staff_run, name="staff_run"),
    path("staff/winners/<int:winner_id>/reroll/", views.staff_reroll, name="staff_reroll"),
    path("staff/winners/<int:winner_id>/fulfilled/", views.staff_fulfilled, name="staff_fulfilled"),
]
