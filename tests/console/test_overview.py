"""The overview page: only staff with MANAGE_ORDERS see it, its figures are conveyorStats' and the measures',
the filter narrows them, every part downloads as CSV, and bad input is refused with nothing shown."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_conveyor import measures, stats
from saleor_conveyor.console import auth
from saleor_conveyor.console.overview import PARTS
from saleor_conveyor.models import FanProfile, Purchase
from sandbox.shop.models import Order
from tests.console.overview_shop import simulated_shop, staff_member
from tests.graphql.helpers import Api

pytestmark = pytest.mark.django_db
OVERVIEW = "/console/overview/"
CSV = "/console/overview/csv/"
STATS = """query($since: Date, $until: Date, $channel: String) {
  conveyorStats(since: $since, until: $until, channel: $channel) {
    nps { score promoters passives detractors responses }
    stages { stage count } f2ConversionRate repeatRate
    averageLifetimeValues { amount currency }
    shippingLeadTime { medianHours p90Hours sameDayRate shipped }
    improvingStreak engagementGrid { cell count }
    monthlyShippingLeadTime { month medianHours p90Hours sameDayRate shipped }
  }
  rulePerformance(since: $since, until: $until) { rule variant verdict }
}"""


def signed_in(user) -> Client:
    client = Client()
    client.cookies[auth.SESSION_COOKIE] = auth.session_token(user, auth.VIA_SIGN_IN)
    return client


def figures(html: str) -> dict[str, str]:
    """The page's figures as it marks them: data-figure name -> data-value."""
    return dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', html))


def cells(html: str) -> dict[str, int]:
    return {cell: int(value) for cell, value in re.findall(r'data-cell="([^"]+)" data-value="(\d+)"', html)}


def as_number(text: str) -> float | None:
    return None if text == "" else float(text)


def assert_same_as_the_api(html: str, answer: dict) -> None:
    """Each figure the page shows equals what conveyorStats (and rulePerformance) answer for the same filter."""
    shown, api = figures(html), answer["conveyorStats"]
    assert as_number(shown["nps-score"]) == api["nps"]["score"]
    for name in ("promoters", "passives", "detractors"):
        assert int(shown[name]) == api["nps"][name]
    counts = {row["stage"]: row["count"] for row in api["stages"]}
    assert int(shown["campaign-only"]) == counts["CAMPAIGN_ONLY"]
    for rate, key in (("f2", "f2ConversionRate"), ("repeat", "repeatRate")):
        assert as_number(shown[rate]) == (None if api[key] is None else round(api[key], 4))
    assert int(shown["streak"]) == api["improvingStreak"]
    lead = api["shippingLeadTime"]
    assert as_number(shown["lead-median"]) == (None if lead["medianHours"] is None else round(lead["medianHours"], 2))
    for money in api["averageLifetimeValues"]:
        assert float(shown[f"ltv-{money['currency']}"]) == pytest.approx(money["amount"])
    assert cells(html) == {row["cell"]: row["count"] for row in api["engagementGrid"]}
    verdicts = dict(re.findall(r'data-verdict="([^"]+)" data-value="([A-Z_]+)"', html))
    assert verdicts == {
        row["rule"] + (f"/{row['variant']}" if row["variant"] else ""): row["verdict"]
        for row in answer["rulePerformance"]
    }


@pytest.fixture
def shop():
    return simulated_shop()


@pytest.fixture
def orders_staff():
    return staff_member("orders@example.com", "conveyor_manage_orders")


# --- who may see it ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [OVERVIEW, f"{CSV}?part=nps"])
def test_nobody_gets_the_sign_in_page_without_any_figure(shop, path):
    response = Client().get(path)
    body = response.content.decode()
    assert response.status_code == 401 and 'data-form="sign-in"' in body
    assert "data-figure" not in body and "<svg" not in body and "text/csv" not in response["Content-Type"]


@pytest.mark.parametrize("path", [OVERVIEW, f"{CSV}?part=nps"])
def test_a_customer_session_or_signed_in_customer_gets_no_figures(shop, path):
    customer = staff_member("customer@example.com", "conveyor_manage_orders", is_staff=False)
    by_token = signed_in(customer).get(path)
    host_session = Client()
    host_session.force_login(customer)
    by_login = host_session.get(path)
    for response in (by_token, by_login):
        assert response.status_code == 401 and "data-figure" not in response.content.decode()


@pytest.mark.parametrize("path", [OVERVIEW, f"{CSV}?part=nps"])
def test_staff_without_manage_orders_get_a_clear_refusal_and_no_figures(shop, path):
    users_only = staff_member("users@example.com", "conveyor_manage_users")
    response = signed_in(users_only).get(path)
    body = response.content.decode()
    assert response.status_code == 403 and "MANAGE_ORDERS" in body
    assert (
        "data-figure" not in body and "<svg" not in body and "attachment" not in response.get("Content-Disposition", "")
    )


def test_the_overview_is_in_the_console_navigation(orders_staff):
    home = signed_in(orders_staff).get("/console/").content.decode()
    assert 'href="/console/overview/"' in home


# --- the figures are the API's ----------------------------------------------------------


def test_the_page_shows_what_conveyor_stats_answers(shop, orders_staff):
    response = signed_in(orders_staff).get(OVERVIEW)
    assert response.status_code == 200
    answer = Api()(STATS, user=orders_staff)
    assert not answer.errors, answer.errors
    html = response.content.decode()
    assert int(figures(html)["promoters"]) > 0 and sum(cells(html).values()) > 0  # the simulated shop has figures
    assert_same_as_the_api(html, answer.data)


def test_the_filter_narrows_the_figures_as_the_api_does(shop, orders_staff):
    client = signed_in(orders_staff)
    today = timezone.localdate()
    since, until = (today - timedelta(days=45)).isoformat(), (today - timedelta(days=10)).isoformat()
    everything = figures(client.get(OVERVIEW).content.decode())
    narrowed_html = client.get(OVERVIEW, {"since": since, "until": until}).content.decode()
    narrowed = figures(narrowed_html)
    assert narrowed["promoters"] != everything["promoters"] or narrowed["nps-score"] != everything["nps-score"]
    assert_same_as_the_api(narrowed_html, Api()(STATS, {"since": since, "until": until}, user=orders_staff).data)
    elsewhere_html = client.get(OVERVIEW, {"channel": "no-such-channel"}).content.decode()
    elsewhere = figures(elsewhere_html)
    assert elsewhere["promoters"] == "0" and elsewhere["nps-score"] == ""
    assert_same_as_the_api(elsewhere_html, Api()(STATS, {"channel": "no-such-channel"}, user=orders_staff).data)


def test_lead_time_by_month_is_shipping_lead_time_of_each_month():
    """stats.shipping_lead_time_by_month (one grouped query) agrees with shipping_lead_time on each month."""
    from saleor_conveyor import conveyor
    from saleor_conveyor.events import OrderFulfilled
    from tests.factories import customer, placed

    now = timezone.now()
    for n, (age, hours) in enumerate([(70, 5), (65, 30), (40, 2), (38, 50), (35, 1), (5, 3)]):
        at = now - timedelta(days=age)
        conveyor.record_order_placed(placed(f"lead-{n}", at=at, who=customer(f"c{n}@example.com")), now=at)
        conveyor.record_fulfillment(OrderFulfilled(f"lead-{n}", at + timedelta(hours=hours)), now=at)
    window = stats.StatsWindow.from_dates(None, None, None, zone="Asia/Tokyo", now=now)
    for month, lead in stats.shipping_lead_time_by_month(window):
        end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        alone = stats.shipping_lead_time(stats.StatsWindow.from_dates(month, end, None, zone="Asia/Tokyo", now=now))
        assert lead == alone
    assert sum(lead.shipped for _, lead in stats.shipping_lead_time_by_month(window)) == 6


def test_engagement_grid_counts_every_profile_by_its_cell(shop):
    window = stats.StatsWindow.from_dates(None, None, None, zone="Asia/Tokyo", now=timezone.now())
    grid = dict(stats.engagement_grid(window))
    assert len(grid) == 9 and sum(grid.values()) == FanProfile.objects.exclude(segment="").count() > 0
    for cell, count in grid.items():
        assert FanProfile.objects.filter(segment=cell).count() == count


# --- CSV ----------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert response.content.startswith("\ufeff".encode())  # Excel reads UTF-8 with its mark
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_every_part_downloads_as_csv_with_the_tables_numbers(shop, orders_staff):
    client = signed_in(orders_staff)
    for part in PARTS:
        response = client.get(CSV, {"part": part})
        assert response.status_code == 200, part
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == f'attachment; filename="conveyor-{part.replace("_", "-")}.csv"'
        assert len(read_csv(response)[0]) >= 2
    answer = Api()(STATS, user=orders_staff).data["conveyorStats"]
    rows = {row[0]: row[1] for row in read_csv(client.get(CSV, {"part": "nps", "lang": "en"}))[1:]}
    assert int(rows["promoters"]) == answer["nps"]["promoters"] and int(rows["responses"]) == answer["nps"]["responses"]
    grid = {row[0]: int(row[3]) for row in read_csv(client.get(CSV, {"part": "engagement"}))[1:]}
    assert grid == {row["cell"]: row["count"] for row in answer["engagementGrid"]}
    months = read_csv(client.get(CSV, {"part": "lead_time"}))[1:-1]
    assert [int(row[4]) for row in months] == [row["shipped"] for row in answer["monthlyShippingLeadTime"]]


def test_the_csv_follows_the_filter_and_names_it(shop, orders_staff):
    today = timezone.localdate()
    since = (today - timedelta(days=30)).isoformat()
    response = signed_in(orders_staff).get(CSV, {"part": "nps", "since": since, "channel": "default-channel"})
    assert response["Content-Disposition"].endswith(f'-{since.replace("-", "")}-defaultchannel.csv"')
    answer = Api()(STATS, {"since": since, "channel": "default-channel"}, user=orders_staff).data["conveyorStats"]
    rows = {row[0]: row[1] for row in read_csv(response)[1:]}
    assert int(rows["responses"]) == answer["nps"]["responses"]


def test_the_cohorts_csv_is_the_measure(shop, orders_staff):
    window = stats.StatsWindow.from_dates(None, None, None, zone="Asia/Tokyo", now=timezone.now())
    expected = measures.cohorts(window)
    rows = read_csv(signed_in(orders_staff).get(CSV, {"part": "cohorts"}))[1:]
    assert [(row[0], int(row[1])) for row in rows] == [(f"{c.month:%Y-%m}", c.customers) for c in expected]
    assert [float(value) for value in rows[0][2:] if value] == [round(v, 4) for v in expected[0].bought_again]


@pytest.mark.parametrize(
    "query",
    [
        {"part": "secrets"},
        {"part": "nps", "since": "not-a-day"},
        {"part": "nps", "since": "2026-05-01", "until": "2026-04-01"},
        {"part": "nps", "channel": "a\x00b"},
        {"part": "nps", "channel": "x" * 5000},
        {"part": "nps", "until": "9999-01-01"},
    ],
    ids=["unknown-part", "bad-date", "reversed", "nul", "huge", "out-of-range"],
)
def test_a_bad_csv_request_is_refused_without_figures(shop, orders_staff, query):
    response = signed_in(orders_staff).get(CSV, query)
    assert response.status_code == 400 and "attachment" not in response.get("Content-Disposition", "")
    assert "promoters" not in response.content.decode()


# --- bad filters, the page's markup ---------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"since": "2026-13-45"},
        {"since": "2026-05-01", "until": "2026-04-01"},
        {"channel": "default\x00channel"},
        {"channel": "c" * 101},
        {"since": "0001-01-01"},
        {"until": "x" * 100_000},
    ],
    ids=["bad-date", "reversed", "nul", "long-channel", "out-of-range", "huge"],
)
def test_a_bad_filter_shows_the_form_with_its_error_and_no_figures(shop, orders_staff, query):
    response = signed_in(orders_staff).get(OVERVIEW, query)
    body = response.content.decode()
    assert response.status_code == 400 and 'role="alert"' in body and 'data-form="overview-filter"' in body
    assert "data-figure" not in body and "<svg" not in body


def test_the_charts_are_inline_svg_the_csp_allows(shop, orders_staff):
    response = signed_in(orders_staff).get(OVERVIEW)
    body = response.content.decode()
    nonce = re.search(r"style-src 'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert body.count("<svg") >= 7
    assert "<script" not in body.split("</main>")[0]  # no script inside the page's content, so none in a chart
    assert not re.search(r"(?:href|src)=\"(?:https?:)?//", body)  # nothing from another site
    assert re.findall(r"<style[^>]*>", body) and all(
        f'nonce="{nonce}"' in tag for tag in re.findall(r"<style[^>]*>", body)
    )
    assert ' style="' not in body  # style attributes would be refused by the CSP
    assert 'role="img"' in body and body.count("<details") >= 9


def test_the_page_speaks_the_staff_members_language(shop, orders_staff):
    client = signed_in(orders_staff)
    assert "ルールの効果" in client.get(OVERVIEW, {"lang": "ja"}).content.decode()
    english = client.get(OVERVIEW, {"lang": "en"}).content.decode()
    assert "Rule performance against holdouts" in english and "ルールの効果" not in english


def test_the_query_count_is_the_same_for_a_small_and_a_larger_shop(orders_staff):
    client = signed_in(orders_staff)
    counts = []
    for customers in (15, 90):
        Purchase.objects.all().delete()
        FanProfile.objects.all().delete()
        Order.objects.all().delete()
        get_user_model().objects.exclude(pk=orders_staff.pk).delete()
        simulated_shop(customers=customers, days=120, seed=customers)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(OVERVIEW).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert FanProfile.objects.count() > 15


def test_months_of_the_window_are_shown_even_without_orders(orders_staff):
    body = signed_in(orders_staff).get(OVERVIEW, {"since": "2025-01-01", "until": "2025-03-31"}).content.decode()
    assert (
        all(month in body for month in ("2025-01", "2025-02", "2025-03"))
        and date(2025, 4, 1).isoformat()[:7] not in body
    )
