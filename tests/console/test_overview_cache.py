"""The overview's kept figures (CONVEYOR_CONSOLE_CACHE_SECONDS): shown with "figures as of" until refreshed or
expired, never for another window, channel or rule book, and never in the GraphQL API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor.models import NpsResponse
from tests.console.overview_shop import get_page, simulated_shop, staff_member
from tests.console.test_overview import CSV, OVERVIEW, STATS, assert_same_as_the_api, figures, signed_in
from tests.graphql.helpers import Api

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kept_figures")]


@pytest.fixture
def shop():
    return simulated_shop(customers=25, days=150, seed=3)


@pytest.fixture
def client():
    return signed_in(staff_member("orders@example.com", "conveyor_manage_orders"))


def read_ledger(client, path: str, params: dict | None = None) -> tuple[str, bool]:
    """The page's body, and whether answering it read the ledger (computed figures rather than kept ones)."""
    body, _statements, computed = get_page(client, path, params)
    return body, computed


def forget_the_answers() -> None:
    """A change of the shop that changes the NPS figures."""
    assert NpsResponse.objects.exists()
    NpsResponse.objects.all().delete()


def test_kept_figures_are_shown_with_their_time_until_refreshed(shop, client):
    first, computed = read_ledger(client, OVERVIEW, {"lang": "en"})
    assert computed and "Figures as of" in first and "data-refresh" in first
    forget_the_answers()
    again, computed = read_ledger(client, OVERVIEW, {"lang": "en"})
    assert not computed
    assert figures(again) == figures(first) and int(figures(again)["promoters"]) + int(figures(again)["passives"]) > 0
    assert re.search(r'data-as-of="([^"]+)"', again).group(1) == re.search(r'data-as-of="([^"]+)"', first).group(1)
    refresh = re.search(r'href="([^"]+)" data-refresh', again).group(1).replace("&amp;", "&")
    assert "refresh=1" in refresh
    fresh, computed = read_ledger(client, refresh)
    assert computed
    assert_same_as_the_api(fresh, Api()(STATS, user=client_user(client)).data)
    assert figures(fresh)["promoters"] == figures(fresh)["passives"] == figures(fresh)["detractors"] == "0"
    # ...and the refreshed figures are what the next request is shown.
    after, computed = read_ledger(client, OVERVIEW)
    assert not computed and figures(after) == figures(fresh)


def client_user(client):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(email="orders@example.com")


def test_kept_figures_expire(shop, client):
    read_ledger(client, OVERVIEW)
    forget_the_answers()
    with freeze_time(timezone.now() + timedelta(seconds=301)):
        body, computed = read_ledger(client, OVERVIEW)
    assert computed and figures(body)["promoters"] == "0"


def test_another_window_channel_or_rule_book_is_computed_on_its_own(shop, client, settings):
    read_ledger(client, OVERVIEW)
    today = timezone.localdate()
    for params in ({"since": str(today - timedelta(days=30))}, {"channel": "default-channel"}):
        _, computed = read_ledger(client, OVERVIEW, params)
        assert computed, params
    settings.CONVEYOR = {**settings.CONVEYOR, "lapse_days": 61}  # a changed rule book
    _, computed = read_ledger(client, OVERVIEW)
    assert computed


def test_another_shops_database_behind_the_same_cache_is_computed_on_its_own(shop, client, monkeypatch):
    from django.db import connections

    read_ledger(client, OVERVIEW)
    _, computed = read_ledger(client, OVERVIEW)
    assert not computed
    database = connections["default"].settings_dict
    monkeypatch.setitem(database, "NAME", database["NAME"] + "_other_shop")  # another shop, one shared Redis
    _, computed = read_ledger(client, OVERVIEW)
    assert computed


def test_a_csv_reads_the_figures_its_page_showed(shop, client):
    read_ledger(client, OVERVIEW)
    shown, _ = read_ledger(client, CSV, {"part": "nps"})
    forget_the_answers()
    kept, computed = read_ledger(client, CSV, {"part": "nps"})
    assert not computed and kept == shown
    read_ledger(client, OVERVIEW, {"refresh": "1"})
    fresh, computed = read_ledger(client, CSV, {"part": "nps"})
    assert not computed and fresh != shown


def test_the_api_is_never_kept(shop, client):
    read_ledger(client, OVERVIEW)
    before = Api()(STATS, user=client_user(client)).data["conveyorStats"]["nps"]["responses"]
    forget_the_answers()
    assert before > 0 and Api()(STATS, user=client_user(client)).data["conveyorStats"]["nps"]["responses"] == 0


def test_with_no_seconds_nothing_is_kept_or_claimed(shop, client, settings):
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 0
    first, computed = read_ledger(client, OVERVIEW, {"lang": "en"})
    assert computed and "Figures as of" not in first and "data-refresh" not in first
    _, computed = read_ledger(client, OVERVIEW)
    assert computed


def test_a_refused_visitor_gets_no_kept_figures(shop, client):
    read_ledger(client, OVERVIEW)
    from django.test import Client

    for visitor in (Client(), signed_in(staff_member("users@example.com", "conveyor_manage_users"))):
        response = visitor.get(OVERVIEW, {"refresh": "1"})
        assert response.status_code in (401, 403)
        assert 'data-figure="nps-score"' not in response.content.decode()


def test_a_cache_that_cannot_be_reached_makes_the_page_compute(shop, client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", unreachable)
    monkeypatch.setattr(cache, "set", unreachable)
    body, computed = read_ledger(client, OVERVIEW)
    assert computed
    assert_same_as_the_api(body, Api()(STATS, user=client_user(client)).data)
