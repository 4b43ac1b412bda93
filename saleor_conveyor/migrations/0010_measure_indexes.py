"""Indexes for the measures (issue 14, 15): counted purchases in each customer's order, measured touchpoints per arm.

rulePerformance, stageFlow, cohorts and the monthly repeat rate read them in index order instead of sorting the
ledger and the outbox. Numbered 0010 after 0009_dashboard_app.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_conveyor", "0009_dashboard_app"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="purchase",
            index=models.Index(
                condition=models.Q(("cancelled_at__isnull", True), ("returned_at__isnull", True)),
                fields=["profile", "placed_at"],
                include=("used_voucher", "used_sale", "used_campaign", "currency", "total_gross_amount"),
                name="conveyor_purchase_counted",
            ),
        ),
        migrations.AddIndex(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(
                    ("status", "SENT"), models.Q(("outcome", "holdout"), ("status", "SKIPPED")), _connector="OR"
                ),
                fields=["profile", "rule", "experiment", "variant", "status"],
                include=("due_at",),
                name="conveyor_touchpoint_arms",
            ),
        ),
    ]
