from django.urls import URLPattern, URLResolver, path

from daylock.events import leaderboard_views as board
from daylock.events import views

app_name = "events"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.event_list, name="list"),
    # Before <slug>/ (and "profile" is a reserved slug).
    path("profile/", views.profile, name="profile"),
    path("profile/leaderboard/", board.visibility_update, name="leaderboard_visibility"),
    path("<slug:slug>/", views.event_detail, name="event"),
    path("<slug:slug>/feedback/", views.event_feedback, name="event_feedback"),
    path("<slug:slug>/leaderboard/", board.leaderboard_page, name="leaderboard"),
    path("<slug:slug>/leaderboard.json", board.leaderboard_json, name="leaderboard_json"),
    path("<slug:slug>/day/<int:number>/", views.day_detail, name="day"),
    path("<slug:slug>/day/<int:number>/answer/<str:tier>/", views.answer, name="answer"),
    path("<slug:slug>/day/<int:number>/feedback/", views.day_feedback, name="day_feedback"),
]
