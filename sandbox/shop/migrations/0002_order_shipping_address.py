"""The sandbox shop's orders keep where they were shipped (the console prints it on staff tasks' cards)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox_shop", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="shipping_address",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
