"""The overview hands figures it does not keep to a Celery worker (`ask_worker`, task
`saleor_conveyor.compute_console_figures`) and answers at once: a window being computed shows a notice and
reloads itself, a refresh keeps showing the figures kept before until the worker's are there; one ask per
window at a time; a worker that fails or does not answer, or a broker that cannot be reached, and the page
computes the figures itself, as it does without a worker."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import delivery, tasks
from saleor_conveyor.console import overview
from saleor_conveyor.hosts import get_host
from tests.console.conftest import LOCMEM, shared_cache
from tests.console.overview_shop import get_page, simulated_shop, staff_member
from tests.console.test_overview import OVERVIEW, cells, figures, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def redis_cache(kept_figures, settings):
    """Figures kept for five minutes in a cache a worker shares with the web (Redis, not each process's own)."""
    settings.CACHES = shared_cache()
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop():
    return simulated_shop(customers=25, days=150, seed=5)


@pytest.fixture
def client():
    return signed_in(staff_member("orders@example.com", "conveyor_manage_orders"))


class Broker:
    """The Celery task's apply_async, recorded instead of sent (a worker runs them with `work`)."""

    def __init__(self, monkeypatch, *, down: bool = False) -> None:
        self.asked: list[tuple] = []
        self.asked_before = 0
        self.down = down
        task = get_host().celery_app().tasks[delivery.COMPUTE_CONSOLE_FIGURES]
        monkeypatch.setattr(task, "apply_async", self.apply_async)

    def apply_async(self, arguments, **options):
        if self.down:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        self.asked.append(tuple(arguments))

    def work(self) -> None:
        """Run what was asked since the last call, as a worker takes the queue."""
        waiting, self.asked_before = self.asked[self.asked_before :], len(self.asked)
        for arguments in waiting:
            tasks.compute_console_figures(*arguments)


@pytest.fixture
def worker(settings, monkeypatch):
    settings.CONVEYOR_DELIVERY = {"enqueue": True}
    return Broker(monkeypatch)


def month_ago() -> dict[str, str]:
    return {"since": str(timezone.localdate() - timedelta(days=30)), "lang": "en"}


def reload_target(body: str) -> str:
    return re.search(r'<meta http-equiv="refresh" content="2; url=([^"]+)">', body).group(1).replace("&amp;", "&")


def test_a_window_not_kept_answers_at_once_and_shows_the_workers_figures_when_they_are_kept(shop, client, worker):
    body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert not computed and "data-computing" in body and "being computed" in body
    assert 'data-figure="nps-score"' not in body
    assert "since=" in reload_target(body) and "refresh" not in reload_target(body)
    assert [arguments[:3] for arguments in worker.asked] == [(month_ago()["since"], "", "")]
    worker.work()
    shown, _, computed = get_page(client, OVERVIEW, month_ago())
    assert not computed and "data-computing" not in shown and "http-equiv" not in shown
    assert 'data-figure="nps-score"' in shown and len(worker.asked) == 1


def test_the_workers_figures_are_the_ones_the_page_computes_itself(shop, client, worker, settings):
    get_page(client, OVERVIEW, month_ago())
    worker.work()
    from_worker, _, _ = get_page(client, OVERVIEW, month_ago())
    cache.clear()
    settings.CONVEYOR_DELIVERY = {"enqueue": False}
    computed_here, _, computed = get_page(client, OVERVIEW, month_ago())
    assert computed
    assert figures(from_worker) == figures(computed_here) and cells(from_worker) == cells(computed_here)
    assert int(figures(from_worker)["promoters"]) > 0


def test_staff_opening_the_window_while_it_is_computed_do_not_ask_again(shop, client, worker):
    for _ in range(3):
        body, _, computed = get_page(client, OVERVIEW, month_ago())
        assert not computed and "data-computing" in body
    assert len(worker.asked) == 1


def test_a_refresh_keeps_the_figures_shown_until_the_workers_newer_ones_are_kept(shop, client, worker):
    start = timezone.now()
    with freeze_time(start):
        overview.warm_default_figures()
        first, _, _ = get_page(client, OVERVIEW, {"lang": "en"})
    with freeze_time(start + timedelta(seconds=60)):
        asked = client.get(OVERVIEW, {"lang": "en", "refresh": "1"})
        assert asked.status_code == 303 and "refresh" not in asked["Location"]
        body, _, computed = get_page(client, asked["Location"])
        assert not computed and "data-updating" in body and "http-equiv" in body
        assert figures(body) == figures(first)
        worker.work()
        after, _, computed = get_page(client, OVERVIEW, {"lang": "en"})
    assert not computed and "data-updating" not in after and "data-refresh" in after
    as_of = re.search(r'data-as-of="([^"]+)"', after).group(1)
    assert as_of != re.search(r'data-as-of="([^"]+)"', first).group(1)
    assert len(worker.asked) == 1


def test_a_worker_that_does_not_answer_in_time_and_the_page_computes_them_itself(shop, client, worker):
    start = timezone.now()
    with freeze_time(start):
        body, _, _ = get_page(client, OVERVIEW, month_ago())
        assert "data-computing" in body
    with freeze_time(start + timedelta(seconds=overview.WORKER_WAIT_SECONDS + 1)):
        body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert computed and "data-computing" not in body and 'data-figure="nps-score"' in body


def test_a_failed_task_makes_the_next_page_compute_them_itself(shop, client, worker, monkeypatch):
    get_page(client, OVERVIEW, month_ago())

    def broken(*args, **kwargs):
        raise RuntimeError("replica went away")

    monkeypatch.setattr(overview, "keep_figures", broken)
    with pytest.raises(RuntimeError):
        worker.work()
    body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert computed and 'data-figure="nps-score"' in body


def test_a_broker_that_cannot_be_reached_and_the_page_computes_them_itself(shop, client, settings, monkeypatch):
    settings.CONVEYOR_DELIVERY = {"enqueue": True}
    broker = Broker(monkeypatch, down=True)
    body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert computed and 'data-figure="nps-score"' in body and broker.asked == []
    again, _, computed = get_page(client, OVERVIEW, {**month_ago(), "refresh": "1"})
    assert computed  # the failed ask left no flag behind to wait on


def test_an_eager_celery_keeps_them_in_the_request_and_the_page_shows_them(shop, client, eager_celery):
    body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert computed and "data-computing" not in body and 'data-figure="nps-score"' in body
    _, _, computed = get_page(client, OVERVIEW, month_ago())
    assert not computed


def test_without_a_worker_nothing_is_asked_and_the_page_computes_as_before(shop, client, monkeypatch):
    broker = Broker(monkeypatch)  # enqueue is off in the tests' settings
    body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert computed and 'data-figure="nps-score"' in body and broker.asked == []


def test_a_cache_each_process_keeps_to_itself_is_never_handed_to_a_worker(shop, client, worker, settings):
    # Saleor without CACHE_URL, and the sandbox's tests: the worker's figures would land where no page looks.
    settings.CACHES = LOCMEM
    body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert computed and 'data-figure="nps-score"' in body and worker.asked == []


def test_figures_the_page_cannot_read_after_the_worker_is_done_are_computed_here_not_asked_for_again(
    shop, client, worker, monkeypatch
):
    get_page(client, OVERVIEW, month_ago())
    monkeypatch.setattr(overview.Figures, "keep", lambda self: None)  # e.g. a cache that refuses the set
    worker.work()
    body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert computed and 'data-figure="nps-score"' in body and len(worker.asked) == 1


def test_a_worker_whose_clock_runs_ahead_still_keeps_figures_the_page_reads(shop, client, worker):
    start = timezone.now()
    with freeze_time(start):
        get_page(client, OVERVIEW, month_ago())
    with freeze_time(start + timedelta(seconds=20)):  # the worker's clock; its figures carry the ask's time
        worker.work()
    with freeze_time(start + timedelta(seconds=3)):
        body, _, computed = get_page(client, OVERVIEW, month_ago())
    assert not computed and 'data-figure="nps-score"' in body and len(worker.asked) == 1


def test_a_refresh_after_the_workers_last_run_asks_again(shop, client, worker):
    get_page(client, OVERVIEW, month_ago())
    worker.work()
    asked = client.get(OVERVIEW, {**month_ago(), "refresh": "1"})
    assert asked.status_code == 303 and len(worker.asked) == 2
