"""The environment stamp: created and written before anything else is stored."""

import uuid

from django.conf import settings
from django.db import migrations, models


def write_stamp(apps, schema_editor):  # type: ignore[no-untyped-def]
    EnvironmentStamp = apps.get_model("core", "EnvironmentStamp")
    if not EnvironmentStamp.objects.using(schema_editor.connection.alias).exists():
        EnvironmentStamp.objects.using(schema_editor.connection.alias).create(
            environment=settings.DAYLOCK.app_env.value
        )


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="EnvironmentStamp",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("singleton", models.BooleanField(default=True, editable=False, unique=True)),
                ("environment", models.CharField(max_length=20)),
                ("instance_id", models.UUIDField(default=uuid.uuid4, editable=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"db_table": "daylock_environment_stamp"},
        ),
        migrations.RunPython(write_stamp, migrations.RunPython.noop),
        # Unmanaged from here on: Django's flush (``daylock flush``, transactional
        # tests) skips unmanaged tables, so the stamp outlives a wipe of the data.
        migrations.AlterModelOptions(
            name="environmentstamp",
            options={"db_table": "daylock_environment_stamp", "managed": False},
        ),
    ]
