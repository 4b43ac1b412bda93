"""The Saleor app installed from the plugin's manifest (issue 15): its id and the token Saleor posted at installation.

Numbered 0009 after 0008_touchpoint_variant.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_conveyor", "0008_touchpoint_variant"),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardApp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("app_id", models.PositiveBigIntegerField(unique=True)),
                ("auth_token", models.CharField(max_length=128)),
                ("saleor_api_url", models.CharField(blank=True, max_length=2048)),
                ("saleor_domain", models.CharField(blank=True, max_length=255)),
                ("registered_at", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]
