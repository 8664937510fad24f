from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from daylock.events.models import Challenge, Day, DayUnlock, Event
from daylock.prizes.models import Draw, Prize
from tests.config_override import production

pytestmark = pytest.mark.django_db


def test_demo_data_is_idempotent_and_playable(client: Client) -> None:
    out = io.StringIO()
    call_command("demo_data", stdout=out)
    assert "demo event created: /events/daylock-demo/" in out.getvalue()
    call_command("demo_data", stdout=io.StringIO())
    event = Event.objects.get()
    assert (event.name, event.day_count, event.published) == ("Daylock Demo", 7, True)
    assert Day.objects.count() == 7
    assert Challenge.objects.count() == 14
    assert DayUnlock.objects.count() == 1
    prize = Prize.objects.get()  # one prize, not one per run: draws can be tried
    assert (prize.event, prize.quantity) == (event, 3)
    assert Draw.objects.filter(prize=prize).count() == 1
    for number in (1, 2, 3, 4):
        assert client.get(f"/events/daylock-demo/day/{number}/").status_code == 200, number
    for number in (5, 6, 7):
        assert client.get(f"/events/daylock-demo/day/{number}/").status_code == 404, number


def test_demo_data_is_refused_in_production(capsys: pytest.CaptureFixture[str]) -> None:
    with production(), pytest.raises(SystemExit) as excinfo:
        call_command("demo_data")
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "daylock: refused: seed: demo_data would write demo content into the production database"
    )
    assert not Event.objects.exists()
