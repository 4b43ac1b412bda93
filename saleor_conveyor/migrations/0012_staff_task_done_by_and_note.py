"""A staff task done in the console keeps who did it and their note (Touchpoint.done_by, Touchpoint.note)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_conveyor", "0011_manage_plugins_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="touchpoint",
            name="done_by",
            field=models.CharField(blank=True, db_default="", default="", max_length=254),
        ),
        migrations.AddField(
            model_name="touchpoint",
            name="note",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
    ]
