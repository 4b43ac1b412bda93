"""`make demo`'s command: a small shop run end to end prints the owner's summary from real rows."""

import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from saleor_conveyor.models import FanProfile, NpsResponse, Purchase, ReturnRequest, Touchpoint
from sandbox.demo.links import SHOWCASE_EMAIL


@pytest.mark.django_db
def test_demo_seeds_a_shop_runs_the_conveyor_and_prints_the_summary():
    out, err = StringIO(), StringIO()
    call_command("conveyor_demo", customers=40, days=30, seed=7, stdout=out, stderr=err)
    text = out.getvalue()
    assert FanProfile.objects.exclude(email=SHOWCASE_EMAIL).count() == 40
    orders = Purchase.objects.exclude(profile__email=SHOWCASE_EMAIL).count()
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


@pytest.mark.django_db
def test_demo_prints_customer_page_links_that_open_and_record_nothing_by_themselves(settings):
    settings.CONVEYOR_PUBLIC_URL = "http://localhost:8000"
    out = StringIO()
    call_command("conveyor_demo", customers=10, days=10, seed=3, stdout=out, stderr=StringIO())
    links = re.findall(r"^    (http://localhost:8000/\S+)$", out.getvalue(), re.M)
    paths = {urlsplit(link).path for link in links}
    assert {"/survey/nps/", "/survey/fan/", "/survey/winback/", "/returns/", "/preferences/", "/inquiry/"} <= paths
    answers, returns = NpsResponse.objects.count(), ReturnRequest.objects.count()
    for link in links:
        parts = urlsplit(link)
        response = Client().get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200, link
        assert "data-refused" not in response.content.decode(), link  # a valid link, not the refusal page
    assert (NpsResponse.objects.count(), ReturnRequest.objects.count()) == (answers, returns)


@pytest.mark.django_db
def test_the_demo_forgets_the_consoles_figures_kept_of_the_shop_it_resets_and_analyzes_what_it_wrote(monkeypatch):
    from django.core.cache import cache

    from sandbox.demo.management.commands import conveyor_demo

    analyzed = []

    def analyze():
        analyzed.append(FanProfile.objects.count())
        return []

    monkeypatch.setattr(conveyor_demo, "analyze_conveyor_tables", analyze)
    cache.set("conveyor:overview:kept-before", {"nps": "the old shop"}, 300)
    call_command("conveyor_demo", customers=10, days=5, seed=3, stdout=StringIO(), stderr=StringIO())
    assert len(analyzed) == 1 and analyzed[0] >= 10  # once, after the shop's history was written
    assert cache.get("conveyor:overview:kept-before") is None
