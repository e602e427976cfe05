"""The client search's keys (accent- and case-folded family name, given name and record number), filled
for existing clients, and the indexes of the search and of the newest-first client list."""

import screening.models
from django.db import migrations, models

BATCH = 5000


def fill_search_keys(apps, schema_editor):
    # The same functions Client.save() uses, so existing and new clients are found alike.
    from screening.models import name_key, record_key

    Client = apps.get_model("screening", "Client")
    connection = schema_editor.connection
    table = connection.ops.quote_name(Client._meta.db_table)
    last = 0
    while True:
        rows = list(
            Client.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "family_name", "given_name", "record_number")[:BATCH]
        )
        if not rows:
            return
        params = []
        for pk, family, given, number in rows:
            params += [pk, name_key(family)[:200], name_key(given)[:200], record_key(number)[:64]]
        values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        with connection.cursor() as cursor:
            # One statement per batch; UPDATE … FROM works on PostgreSQL and on SQLite 3.33 and later.
            cursor.execute(
                f"UPDATE {table} SET search_family = v.column2, search_given = v.column3, search_record = v.column4"
                f" FROM (VALUES {values}) AS v WHERE {table}.id = v.column1",
                params,
            )
        last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [("screening", "0007_answer_map_columns")]

    operations = [
        migrations.AddField(
            model_name="client",
            name="search_family",
            field=screening.models.SearchKeyField(default="", editable=False, max_length=200),
        ),
        migrations.AddField(
            model_name="client",
            name="search_given",
            field=screening.models.SearchKeyField(default="", editable=False, max_length=200),
        ),
        migrations.AddField(
            model_name="client",
            name="search_record",
            field=screening.models.SearchKeyField(default="", editable=False, max_length=64),
        ),
        migrations.RunPython(fill_search_keys, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="client",
            index=models.Index(fields=["search_family", "search_given", "id"], name="screening_client_family_key"),
        ),
        migrations.AddIndex(
            model_name="client",
            index=models.Index(fields=["search_given", "search_family"], name="screening_client_given_key"),
        ),
        migrations.AddIndex(
            model_name="client",
            index=models.Index(fields=["search_record"], name="screening_client_record_key"),
        ),
        migrations.AddIndex(
            model_name="client",
            index=models.Index(fields=["created_at", "id"], name="screening_client_newest_idx"),
        ),
    ]
