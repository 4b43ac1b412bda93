"""A touchpoint keeps the experiment arm it was assigned (variant, holdout); sent and held-out rows indexed by due time.

Numbered 0008 after 0007_rule_conditions (its sibling of issue 14, merged first).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_conveyor", "0007_rule_conditions"),
    ]

    operations = [
        migrations.AddField(
            model_name="touchpoint",
            name="experiment",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AddField(
            model_name="touchpoint",
            name="variant",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AddIndex(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(
                    ("status", "SENT"), models.Q(("outcome", "holdout"), ("status", "SKIPPED")), _connector="OR"
                ),
                fields=["due_at"],
                name="conveyor_touchpoint_measured",
            ),
        ),
    ]
