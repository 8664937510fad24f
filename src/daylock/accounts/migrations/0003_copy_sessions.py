"""Sessions stored by Django's own session table before 0002 keep logging their users
in: each unexpired row is copied with the user id its data names. Going back leaves
the old table as it was (sessions made since then are not copied back: their users
log in again)."""

from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import migrations
from django.utils import timezone


def copy_sessions(apps: Any, schema_editor: Any) -> None:
    db = schema_editor.connection.alias
    old = apps.get_model("sessions", "Session")
    new = apps.get_model("accounts", "Session")
    # Same class name as daylock.accounts.sessions.SessionStore: the same signing salt.
    store = SessionStore()
    rows = []
    for row in old.objects.using(db).filter(expire_date__gt=timezone.now()).iterator():
        claimed = store.decode(row.session_data).get(SESSION_KEY)
        rows.append(
            new(
                session_key=row.session_key,
                session_data=row.session_data,
                expire_date=row.expire_date,
                user_id=int(claimed) if str(claimed).isdigit() else None,
            )
        )
    new.objects.using(db).bulk_create(rows, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_session"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(copy_sessions, migrations.RunPython.noop)]
