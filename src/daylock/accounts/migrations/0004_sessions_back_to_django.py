"""Sessions move back to Django's own table (``django_session``, read and written by
Django's ``cached_db`` engine): the user id each ``accounts_session`` row carried served
only a day page that read its session row in its own query, which is gone. Unexpired
rows are copied first, so nobody is logged out (their Redis copies are the same under
either engine: same cache key, same signing salt). Going back copies them the other
way, with the user id their data names (as 0003 did)."""

from importlib import import_module
from typing import Any

from django.db import migrations
from django.utils import timezone


def to_django(apps: Any, schema_editor: Any) -> None:
    db = schema_editor.connection.alias
    ours = apps.get_model("accounts", "Session")
    django = apps.get_model("sessions", "Session")
    rows = [
        django(
            session_key=row.session_key, session_data=row.session_data, expire_date=row.expire_date
        )
        for row in ours.objects.using(db).filter(expire_date__gt=timezone.now()).iterator()
    ]
    # django_session may still hold an older copy of a row (0003 copied, never deleted).
    django.objects.using(db).bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["session_key"],
        update_fields=["session_data", "expire_date"],
    )


def to_ours(apps: Any, schema_editor: Any) -> None:
    import_module(f"{__package__}.0003_copy_sessions").copy_sessions(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_copy_sessions"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(to_django, to_ours),
        migrations.DeleteModel(name="Session"),
    ]
