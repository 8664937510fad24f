from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client

from daylock.events import services
from daylock.events.answers import answers_match, normalise_answer
from daylock.events.models import Day, Progress, Tier, WrongAnswer
from daylock.events.services import Outcome

from .factories import EventFactory, UserFactory, answer_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("  Hello   World \n", "hello world"),
        ("HELLO\tWORLD", "hello world"),
        ("Straße", "strasse"),  # case folding, not just lower()
        ("\uff21\uff22\uff23", "abc"),  # full-width letters (NFKC)
        ("\ufb01ne", "fine"),  # the fi ligature (NFKC)
        ("caf\u0065\u0301", "caf\u00e9"),  # decomposed accent composes (NFKC)
        ("a\u00a0b", "a b"),  # non-breaking space is whitespace
        ("4 2", "4 2"),  # inner spaces are kept (collapsed, not removed)
        ("x,y", "x,y"),  # punctuation is kept
    ],
)
def test_normalise_answer(raw: str, normalised: str) -> None:
    assert normalise_answer(raw) == normalised


def test_answers_match_after_normalisation_only() -> None:
    assert answers_match("  HELLO  world", "hello world")
    assert not answers_match("helloworld", "hello world")
    assert not answers_match("42", "4 2")


def _day(number: int = 1) -> Day:
    return EventFactory(slug="play").days.get(number=number)


def test_wrong_then_right_then_again(client: Client) -> None:
    day = _day()
    user = UserFactory()
    client.force_login(user)
    url = "/events/play/day/1/answer/normal/"

    response = client.post(url, {"answer": "nope"}, follow=True)
    assert "Not quite" in response.content.decode()
    wrong = WrongAnswer.objects.get()
    assert (wrong.user, wrong.day, wrong.tier, wrong.answer) == (user, day, "normal", "nope")
    assert not Progress.objects.exists()

    response = client.post(url, {"answer": "  NORMAL-1 "}, follow=True)
    assert "Correct! Day 1 is solved at normal tier." in response.content.decode()
    progress = Progress.objects.get()
    assert (progress.user, progress.day, progress.tier) == (user, day, Tier.NORMAL)

    response = client.post(url, {"answer": "normal-1"}, follow=True)
    assert "Already solved" in response.content.decode()
    response = client.post(url, {"answer": "wrong now"}, follow=True)
    assert "Already solved" in response.content.decode()
    assert Progress.objects.count() == 1
    assert WrongAnswer.objects.count() == 1  # nothing is checked once solved

    page = client.get("/events/play/day/1/").content.decode()
    assert "You solved this one." in page
    assert 'action="/events/play/day/1/answer/veteran/"' in page  # veteran still open


def test_veteran_is_independent_of_normal() -> None:
    day = _day(2)
    user = UserFactory()
    result = services.answer_submit(
        user=user, day=day, tier=Tier.VETERAN, answer=answer_for(Tier.VETERAN, 2)
    )
    assert result.outcome is Outcome.CORRECT
    assert list(Progress.objects.values_list("tier", flat=True)) == ["veteran"]
    # The normal answer does not solve the veteran challenge, nor the other way round.
    other = UserFactory()
    result = services.answer_submit(
        user=other, day=day, tier=Tier.VETERAN, answer=answer_for(Tier.NORMAL, 2)
    )
    assert result.outcome is Outcome.WRONG


def test_wrong_answers_are_stored_truncated_to_200_characters() -> None:
    day = _day()
    user = UserFactory()
    services.answer_submit(user=user, day=day, tier=Tier.NORMAL, answer="x" * 900)
    assert WrongAnswer.objects.get().answer == "x" * 200


def test_overlong_answer_is_a_form_error_and_stores_nothing(client: Client) -> None:
    _day()
    client.force_login(UserFactory())
    response = client.post("/events/play/day/1/answer/normal/", {"answer": "a" * 1001})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Answers are at most 1000 characters (this one has 1001). Nothing was stored." in body
    assert not WrongAnswer.objects.exists()
    assert not Progress.objects.exists()
    # 1000 characters is still an answer (a wrong one: the page again, with it).
    response = client.post("/events/play/day/1/answer/normal/", {"answer": "a" * 1000})
    assert response.status_code == 200
    assert "Not quite" in response.content.decode()
    assert WrongAnswer.objects.count() == 1


def test_empty_answer_is_a_form_error(client: Client) -> None:
    _day()
    client.force_login(UserFactory())
    response = client.post("/events/play/day/1/answer/normal/", {"answer": ""})
    assert response.status_code == 400
    assert "Type an answer first." in response.content.decode()
    assert not WrongAnswer.objects.exists()


def test_service_refuses_overlong_answer_and_locked_day() -> None:
    day = EventFactory(slug="later", starts_on=dt.date(2999, 1, 1)).days.get(number=1)
    user = UserFactory()
    with pytest.raises(ValidationError, match="at most 1000 characters"):
        services.answer_submit(user=user, day=day, tier=Tier.NORMAL, answer="a" * 1001)
    with pytest.raises(services.DayLockedError):
        services.answer_submit(user=user, day=day, tier=Tier.NORMAL, answer=answer_for("normal", 1))
    assert not Progress.objects.exists()


def test_answer_endpoint_guards(client: Client) -> None:
    EventFactory(slug="play")
    EventFactory(slug="later", starts_on=dt.date(2999, 1, 1))
    url = "/events/play/day/1/answer/normal/"
    response = client.post(url, {"answer": "normal-1"})
    assert response.status_code == 302
    # Back to the day page after logging in, never to this POST-only address.
    assert response["Location"] == "/auth/login/?next=%2Fevents%2Fplay%2Fday%2F1%2F"
    client.force_login(UserFactory())
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == "/events/play/day/1/#normal"
    assert client.post("/events/play/day/1/answer/expert/", {"answer": "x"}).status_code == 404
    response = client.post("/events/later/day/1/answer/normal/", {"answer": "normal-1"})
    assert response.status_code == 404
    assert not Progress.objects.exists()


def test_missing_challenge_tier_is_404(client: Client) -> None:
    event = EventFactory(slug="play")
    event.days.get(number=1).challenges.filter(tier=Tier.VETERAN).delete()
    client.force_login(UserFactory())
    page = client.get("/events/play/day/1/").content.decode()
    assert "Veteran challenge" not in page
    response = client.post("/events/play/day/1/answer/veteran/", {"answer": "veteran-1"})
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_concurrent_correct_answers_record_progress_once() -> None:
    """Two requests race: the first holds its transaction open after inserting; the
    second's insert waits on the unique index, then sees the committed row."""
    day = EventFactory(slug="race").days.get(number=1)
    user = UserFactory()
    inserted = threading.Event()
    results: dict[str, services.SubmitResult] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = services.answer_submit(
                    user=user, day=day, tier=Tier.NORMAL, answer="normal-1"
                )
                inserted.set()
                time.sleep(0.5)  # the second request is now blocked on our row
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
            inserted.set()
        finally:
            connection.close()

    def second() -> None:
        try:
            inserted.wait(5)
            results["second"] = services.answer_submit(
                user=user, day=day, tier=Tier.NORMAL, answer="normal-1"
            )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors, errors
    assert results["first"].outcome is Outcome.CORRECT
    assert results["second"].outcome is Outcome.ALREADY_SOLVED
    assert time.monotonic() - started >= 0.5  # the second really waited for the first
    assert Progress.objects.filter(user=user, day=day).count() == 1


@pytest.mark.django_db(transaction=True)
def test_many_simultaneous_correct_answers_record_progress_once() -> None:
    day = EventFactory(slug="crowd").days.get(number=1)
    user = UserFactory()
    barrier = threading.Barrier(6)
    outcomes: list[Outcome] = []

    def submit() -> None:
        try:
            barrier.wait(5)
            result = services.answer_submit(user=user, day=day, tier=Tier.NORMAL, answer="normal-1")
            outcomes.append(result.outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == sorted([Outcome.CORRECT] + [Outcome.ALREADY_SOLVED] * 5)
    assert Progress.objects.count() == 1
