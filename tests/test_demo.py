"""`make demo`'s command: a small shop run end to end prints the owner's summary from real rows."""

from io import StringIO

import pytest
from django.core.management import call_command

from saleor_conveyor.models import FanProfile, Purchase, Touchpoint


@pytest.mark.django_db
def test_demo_seeds_a_shop_runs_the_conveyor_and_prints_the_summary():
    out, err = StringIO(), StringIO()
    call_command("conveyor_demo", customers=40, days=30, seed=7, stdout=out, stderr=err)
    text = out.getvalue()
    assert FanProfile.objects.count() == 40
    orders = Purchase.objects.count()
    assert orders >= 40
    assert f"40 customers, {orders:,} orders" in text
    sections = ("Customers per stage", "Touchpoints per rule and status", "Measures", "Month by month")
    for section in (*sections, "Rule performance", "Stage flow"):
        assert section in text
    assert Touchpoint.objects.filter(rule="step_day3", status="SENT").exists()
    assert "step_day3" in text and "F2 conversion" in text
    assert "day 30/30" in err.getvalue()  # progress was shown
    # step_day7 runs against a 30% holdout: held-out customers were never sent it.
    assert "step_day7" in text.split("Rule performance")[1] and "not enough customers yet" in text
    assert Touchpoint.objects.filter(experiment="demo-1").exists()
    assert not Touchpoint.objects.filter(outcome="holdout").exclude(status="SKIPPED").exists()
    assert "FIRST_TIME" in text.split("Stage flow")[1]
