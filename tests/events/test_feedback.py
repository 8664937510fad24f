from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from daylock.events import services
from daylock.events.models import Feedback

from .factories import EventFactory, FeedbackFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY_URL = "/events/fb/day/1/feedback/"
EVENT_URL = "/events/fb/feedback/"


@pytest.mark.parametrize("rating", ["0", "6", "-1", "3.5", "five", ""])
def test_rating_outside_1_to_5_is_a_form_error(client: Client, rating: str) -> None:
    EventFactory(slug="fb")
    client.force_login(UserFactory())
    response = client.post(DAY_URL, {"rating": rating, "comment": "hi"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "The rating is a whole number from 1 to 5" in body or "Choose a rating" in body
    assert not Feedback.objects.exists()


def test_oversized_comment_is_a_form_error(client: Client) -> None:
    EventFactory(slug="fb")
    client.force_login(UserFactory())
    response = client.post(EVENT_URL, {"rating": "3", "comment": "x" * 2001})
    assert response.status_code == 400
    assert "Comments are at most 2000 characters (this one has 2001)." in response.content.decode()
    assert not Feedback.objects.exists()
    assert client.post(EVENT_URL, {"rating": "3", "comment": "x" * 2000}).status_code == 302
    assert len(Feedback.objects.get().comment) == 2000


def test_html_comment_is_stored_as_typed_and_shown_escaped(client: Client) -> None:
    EventFactory(slug="fb")
    client.force_login(UserFactory())
    typed = '<script>alert("x")</script> <b>bold</b> & co'
    response = client.post(DAY_URL, {"rating": "5", "comment": typed}, follow=True)
    assert response.status_code == 200
    assert Feedback.objects.get().comment == typed
    body = response.content.decode()
    assert "<script>alert" not in body
    assert (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp; co" in body
    )


def test_feedback_is_updated_in_place_by_its_author(client: Client) -> None:
    event = EventFactory(slug="fb")
    author = UserFactory()
    client.force_login(author)
    client.post(DAY_URL, {"rating": "2", "comment": "meh"})
    first = Feedback.objects.get()
    client.post(DAY_URL, {"rating": "4", "comment": "better"})
    again = Feedback.objects.get()
    assert (again.pk, again.rating, again.comment) == (first.pk, 4, "better")
    assert again.day == event.days.get(number=1)
    # Event feedback is a separate row.
    client.post(EVENT_URL, {"rating": "5", "comment": "great"})
    assert Feedback.objects.count() == 2
    assert Feedback.objects.get(day__isnull=True).rating == 5
    # Someone else sees an empty form and edits only their own row.
    other = UserFactory()
    client.force_login(other)
    page = client.get(DAY_URL).content.decode()
    assert "better" not in page
    client.post(DAY_URL, {"rating": "1", "comment": "mine"})
    assert Feedback.objects.get(pk=first.pk).comment == "better"
    assert Feedback.objects.filter(user=other).count() == 1


def test_feedback_pages_need_login_and_an_open_day(client: Client) -> None:
    EventFactory(slug="fb")
    EventFactory(slug="later", starts_on=dt.date(2999, 1, 1))
    response = client.get(DAY_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/auth/login/")
    client.force_login(UserFactory())
    assert client.get(DAY_URL).status_code == 200
    assert client.get("/events/later/day/1/feedback/").status_code == 404
    assert client.post("/events/later/day/1/feedback/", {"rating": "3"}).status_code == 404
    # Event feedback is possible before the first day opens.
    assert client.post("/events/later/feedback/", {"rating": "3"}).status_code == 302
    assert Feedback.objects.count() == 1


def test_service_validates_and_checks_the_day_belongs_to_the_event() -> None:
    event, other = EventFactory(), EventFactory()
    user = UserFactory()
    with pytest.raises(ValidationError) as excinfo:
        services.feedback_save(user=user, event=event, day=None, rating=0, comment="x" * 2001)
    assert set(excinfo.value.message_dict) == {"rating", "comment"}
    with pytest.raises(ValidationError):
        services.feedback_save(user=user, event=event, day=None, rating=True, comment="")
    with pytest.raises(ValueError, match="does not belong"):
        services.feedback_save(
            user=user, event=event, day=other.days.get(number=1), rating=3, comment=""
        )
    assert not Feedback.objects.exists()


def test_database_enforces_one_feedback_per_scope_and_rating_range() -> None:
    event = EventFactory()
    user = UserFactory()
    day = event.days.get(number=1)
    FeedbackFactory(user=user, event=event, day=None)
    FeedbackFactory(user=user, event=event, day=day)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeedbackFactory(user=user, event=event, day=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeedbackFactory(user=user, event=event, day=day)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeedbackFactory(event=event, rating=6)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeedbackFactory(event=event, rating=0)
