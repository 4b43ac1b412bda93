"""The default overview kept warm (`warm_default_figures`, task `saleor_conveyor.warm_console`): staff opening the
page find its figures computed, the same as a refreshed page's, in any language; nothing is done when no figures
are kept, and other windows are computed on their own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import tasks
from saleor_conveyor.console.overview import PARTS, warm_default_figures
from saleor_conveyor.models import NpsResponse
from tests.console.overview_shop import get_page, simulated_shop, staff_member
from tests.console.test_overview import CSV, OVERVIEW, cells, figures, signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kept_figures")]


@pytest.fixture
def shop():
    return simulated_shop(customers=25, days=150, seed=5)


@pytest.fixture
def client():
    return signed_in(staff_member("orders@example.com", "conveyor_manage_orders"))


get = get_page  # body, statements run, whether the ledger was read


def every_csv(client, params: dict | None = None) -> dict[str, str]:
    return {part: get(client, CSV, {"part": part, **(params or {})})[0] for part in PARTS}


def test_a_warmed_page_runs_only_the_statements_of_a_kept_page_and_shows_the_refreshed_figures(shop, client):
    warm_default_figures()
    warmed, warmed_count, computed = get(client, OVERVIEW, {"lang": "en"})
    assert not computed and "Figures as of" in warmed
    warmed_csv = every_csv(client)
    fresh, fresh_count, computed = get(client, OVERVIEW, {"lang": "en", "refresh": "1"})
    assert computed
    # The fresh page runs the figures' 12 statements on top of the staff identity's; the warmed one none of them.
    assert warmed_count + 10 <= fresh_count, (warmed_count, fresh_count)
    assert figures(warmed) == figures(fresh) and int(figures(warmed)["promoters"]) > 0
    assert cells(warmed) == cells(fresh)
    assert every_csv(client) == warmed_csv


def test_a_warmed_page_runs_no_more_than_a_kept_one(shop, client, django_assert_max_num_queries):
    get(client, OVERVIEW)  # keeps the figures as a visit does
    _, kept_count, _ = get(client, OVERVIEW)
    cache.clear()
    warm_default_figures()
    with django_assert_max_num_queries(kept_count):
        response = client.get(OVERVIEW)
    assert response.status_code == 200


def test_the_warmed_figures_serve_every_language(shop, client):
    tasks.warm_console()
    for language in ("ja", "en"):
        body, _, computed = get(client, OVERVIEW, {"lang": language})
        assert not computed, language
        assert 'data-figure="nps-score"' in body


def test_warming_computes_again_what_was_kept_before(shop, client):
    first, _, _ = get(client, OVERVIEW)
    NpsResponse.objects.all().delete()
    kept, _, computed = get(client, OVERVIEW)
    assert not computed and figures(kept)["promoters"] == figures(first)["promoters"] != "0"
    warm_default_figures()
    warmed, _, computed = get(client, OVERVIEW)
    assert not computed and figures(warmed)["promoters"] == "0"


def test_warmed_figures_last_the_cache_seconds_and_the_next_warming_renews_them(shop, client):
    start = timezone.now()
    with freeze_time(start):
        warm_default_figures()
    with freeze_time(start + timedelta(seconds=240)):
        _, _, computed = get(client, OVERVIEW)
        assert not computed
        warm_default_figures()  # the beat row's next run, a minute before they expire
    with freeze_time(start + timedelta(seconds=301)):
        _, _, computed = get(client, OVERVIEW)
        assert not computed
    with freeze_time(start + timedelta(seconds=541)):
        _, _, computed = get(client, OVERVIEW)
        assert computed


def test_only_the_default_window_is_warmed(shop, client):
    warm_default_figures()
    today = timezone.localdate()
    for params in ({"since": str(today - timedelta(days=30))}, {"channel": "default-channel"}):
        _, _, computed = get(client, OVERVIEW, params)
        assert computed, params


def test_with_no_cache_seconds_the_task_does_nothing(shop, client, settings):
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 0
    with CaptureQueriesContext(connection) as queries:
        tasks.warm_console()
    assert queries.captured_queries == []
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 300
    _, _, computed = get(client, OVERVIEW)
    assert computed  # nothing was kept for the page to read
