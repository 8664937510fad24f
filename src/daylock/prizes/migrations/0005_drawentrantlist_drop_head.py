from django.db import migrations


class Migration(migrations.Migration):
    """Drop the stored head of the ranking (ranks 1..k computed while entries closed).

    It was a value derived from the secret seed that the irreversible run trusted
    without anyone being able to check it first; the run now ranks the committed entrant
    list with the seed when it runs. Nothing is lost: the head followed from the list and
    the seed. Migrating back restores an empty (NULL) column, which the code of 0004
    read as "rank when the draw runs".
    """

    dependencies = [
        ("prizes", "0004_drawentrantlist"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="drawentrantlist",
            name="head",
        ),
    ]
