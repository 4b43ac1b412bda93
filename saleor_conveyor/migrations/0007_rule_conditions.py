"""Rule conditions: the ledger learns whether an order is a gift (a rule's `gift_order` condition).

A database default, so adding the column to a large ledger rewrites nothing and old code keeps inserting.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_conveyor", "0006_winback_answers_and_consent_changes"),
    ]

    operations = [
        migrations.AddField(
            model_name="purchase",
            name="gift",
            field=models.BooleanField(db_default=False, default=False),
        ),
    ]
