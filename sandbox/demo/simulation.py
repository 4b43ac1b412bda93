"""A synthetic shop run through the conveyor over simulated time (what `make demo` shows).

Customers of four kinds (one-off, repeat, loyal, campaign-only; some guests) place
orders over six months; each simulated day the day's events are recorded through the
conveyor service, the lapse scan runs, due touchpoints are delivered, and some
customers answer the surveys they were sent, which feeds the NPS triggers.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Q
from django.utils import timezone

from saleor_conveyor import conveyor
from saleor_conveyor.engine import FanDegree, Liking, nps_category, nps_score
from saleor_conveyor.engine.metrics import CustomerDates, f2_conversion, percentile, repeat_rate
from saleor_conveyor.events import (
    Customer,
    FanSurveyAnswered,
    NpsAnswered,
    OrderCancelled,
    OrderFulfilled,
    OrderPlaced,
    OrderReturned,
)
from saleor_conveyor.models import (
    FanProfile,
    FanSurveyResponse,
    Inquiry,
    NpsResponse,
    Purchase,
    ReturnRequest,
    Touchpoint,
)

PERSONAS = {"one_off": 0.50, "repeat": 0.25, "loyal": 0.12, "campaign": 0.13}
# Chance of each NPS score 0..10, by persona: loyal customers promote, one-off ones less so.
NPS_WEIGHTS = {
    "one_off": [3, 2, 2, 3, 4, 6, 8, 12, 14, 9, 7],
    "repeat": [1, 1, 1, 2, 2, 4, 6, 12, 18, 16, 12],
    "loyal": [0, 0, 1, 1, 1, 2, 3, 8, 16, 25, 28],
    "campaign": [2, 2, 3, 4, 5, 8, 10, 12, 10, 5, 3],
}
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(order=True)
class Event:
    at: datetime
    seq: int
    apply: Callable[[datetime], object] = field(compare=False)


@dataclass
class Shopper:
    customer: Customer
    persona: str


@dataclass
class DemoResult:
    days: int
    customers: int
    orders: int
    answers: int
    started: datetime
    ended: datetime


class Simulation:
    def __init__(self, *, customers: int, days: int, seed: int, end: datetime | None = None):
        self.rng = random.Random(seed)
        self.customer_count = customers
        self.days = days
        self.end = (end or timezone.now()).replace(microsecond=0)
        self.start = self.end - timedelta(days=days)
        self.queue: list[Event] = []
        self.seq = itertools.count()
        self.shoppers: dict[str, Shopper] = {}
        self.orders = 0
        self.answers = 0
        self.order_numbers = itertools.count(1)

    # --- setting up -------------------------------------------------------------------

    def reset(self) -> None:
        """Start from an empty shop (the sandbox database only)."""
        for model in (Touchpoint, NpsResponse, FanSurveyResponse, ReturnRequest, Inquiry, Purchase, FanProfile):
            model.objects.all().delete()
        get_user_model().objects.filter(username__startswith="demo-").delete()

    def populate(self) -> None:
        """Customers, their accounts (70%) and their whole order history, as future events."""
        rng = self.rng
        users = get_user_model().objects.bulk_create(
            get_user_model()(username=f"demo-{n}", email=f"customer{n}@example.jp")
            for n in range(self.customer_count)
            if rng.random() < 0.7
        )
        accounts = {user.email: user.pk for user in users}
        for n in range(self.customer_count):
            email = f"customer{n}@example.jp"
            persona = rng.choices(list(PERSONAS), weights=list(PERSONAS.values()))[0]
            language = "ja" if rng.random() < 0.8 else "en"
            shopper = Shopper(Customer(email, accounts.get(email), f"Customer {n}", language), persona)
            self.shoppers[email] = shopper
            for when, discounted in self._order_times(persona):
                self._plan_order(shopper, when, discounted)

    def _order_times(self, persona: str) -> Iterator[tuple[datetime, bool]]:
        rng = self.rng
        when = self.start + timedelta(days=rng.uniform(0, self.days - 5), hours=rng.uniform(0, 14))
        extra = {
            "one_off": 1 if rng.random() < 0.15 else 0,
            "repeat": rng.randint(1, 2),
            "loyal": rng.randint(3, 7),
            "campaign": rng.randint(1, 3),
        }[persona]
        mean_gap = {"one_off": 70, "repeat": 40, "loyal": 22, "campaign": 35}[persona]
        for _ in range(extra + 1):
            if when >= self.end:
                return
            yield when, persona == "campaign" or rng.random() < 0.15
            when += timedelta(days=rng.expovariate(1 / mean_gap) + 1)

    def _plan_order(self, shopper: Shopper, when: datetime, discounted: bool) -> None:
        rng = self.rng
        number = next(self.order_numbers)
        order_id = f"demo-order-{number}"
        base = {"loyal": 9000, "campaign": 4000}.get(shopper.persona, 6000)
        total = Decimal(round(rng.lognormvariate(math.log(base), 0.55), -1))
        event = OrderPlaced(
            order_id=order_id,
            order_number=str(number),
            customer=shopper.customer,
            channel="default-channel",
            currency="JPY",
            total=total,
            placed_at=when,
            used_voucher=discounted and rng.random() < 0.5,
            used_sale=discounted,
        )
        self._at(when, lambda now, e=event: conveyor.record_order_placed(e, now=now))
        self.orders += 1
        if rng.random() < 0.03:
            cancel = when + timedelta(hours=rng.uniform(1, 20))
            self._at(cancel, lambda now: conveyor.record_order_cancelled(OrderCancelled(order_id, now), now=now))
            return
        shipped = when + (
            timedelta(hours=rng.uniform(2, 8)) if rng.random() < 0.4 else timedelta(days=rng.uniform(1, 3))
        )
        self._at(shipped, lambda now: conveyor.record_fulfillment(OrderFulfilled(order_id, now), now=now))
        if rng.random() < 0.02:
            back = shipped + timedelta(days=rng.uniform(5, 15))
            self._at(back, lambda now: conveyor.record_return(OrderReturned(order_id, now), now=now))

    def _at(self, when: datetime, apply: Callable[[datetime], object]) -> None:
        if when < self.end:
            heapq.heappush(self.queue, Event(when, next(self.seq), apply))

    # --- running ------------------------------------------------------------------------

    def run(self, progress: Callable[[int, int, dict[str, int]], None] | None = None) -> DemoResult:
        for day in range(1, self.days + 1):
            day_end = min(self.start + day * DAY, self.end)
            while self.queue and self.queue[0].at < day_end:
                event = heapq.heappop(self.queue)
                event.apply(event.at)
            conveyor.schedule_lapsed(now=day_end, batch_size=100_000)
            self._deliver_due(day_end)
            if progress:
                progress(day, self.days, {"orders": Purchase.objects.count(), "answers": self.answers})
        return DemoResult(self.days, self.customer_count, self.orders, self.answers, self.start, self.end)

    def _deliver_due(self, now: datetime) -> None:
        """Stand-in delivery: due touchpoints count as sent; some customers answer their surveys."""
        due = list(
            Touchpoint.objects.filter(status="SCHEDULED", due_at__lte=now)
            .exclude(kind="STAFF_TASK")
            .select_related("profile")
            .only("id", "rule", "order_id", "due_at", "profile__email")
        )
        conveyor.mark_touchpoints(
            [tp.id for tp in due], "SENT", outcome="delivered in the demo's simulated time", now=now
        )
        for tp in due:
            shopper = self.shoppers.get(tp.profile.email)
            if shopper is None:
                continue
            if tp.rule == "nps_survey" and tp.order_id and self.rng.random() < 0.4:
                self._nps_answer(shopper, tp.order_id, tp.due_at)
            elif tp.rule == "fan_survey" and self.rng.random() < 0.3:
                self._fan_answer(shopper, tp.due_at)
            elif tp.rule == "winback_survey" and self.rng.random() < 0.08:
                self._plan_order(shopper, tp.due_at + timedelta(days=self.rng.uniform(2, 20)), True)

    def _nps_answer(self, shopper: Shopper, order_id: str, sent: datetime) -> None:
        score = self.rng.choices(range(11), weights=NPS_WEIGHTS[shopper.persona])[0]
        answered = sent + timedelta(hours=self.rng.uniform(1, 48))
        event = NpsAnswered(shopper.customer, score, answered, order_id=order_id)
        self._at(answered, lambda now, e=event: conveyor.record_nps(e, now=now))
        self.answers += 1

    def _fan_answer(self, shopper: Shopper, sent: datetime) -> None:
        rank = {"one_off": 1, "repeat": 2, "loyal": 4, "campaign": 1}[shopper.persona]
        fan = list(FanDegree)[min(5, max(0, rank + self.rng.randint(-1, 1)))]
        liking = list(Liking)[min(6, max(0, rank + 1 + self.rng.randint(-1, 2)))]
        answered = sent + timedelta(hours=self.rng.uniform(1, 72))
        event = FanSurveyAnswered(shopper.customer, fan, liking, answered)
        self._at(answered, lambda now, e=event: conveyor.record_fan_survey(e))
        self.answers += 1


# --- the owner's summary ----------------------------------------------------------------


def summary(result: DemoResult, lapse_days: int = 90) -> str:
    """What a shop owner wants to see, as plain-text tables."""
    end, start = result.ended, result.started
    lines: list[str] = []
    profiles = FanProfile.objects.all()
    buyers = profiles.filter(purchase_count__gt=0)
    lines.append(
        f"Simulated {result.days} days ({start:%Y-%m-%d} to {end:%Y-%m-%d}): "
        f"{result.customers:,} customers, {Purchase.objects.count():,} orders, "
        f"{result.answers:,} survey answers."
    )
    lines.append("")
    stage_counts = dict(buyers.values_list("stage").annotate(n=Count("id")).values_list("stage", "n"))
    lapsed = buyers.filter(last_purchase_at__lte=end - timedelta(days=lapse_days)).count()
    guests = profiles.filter(user__isnull=True).count()
    rows = [(stage, stage_counts.get(stage, 0)) for stage in ("FIRST_TIME", "SECOND_TIME", "CAMPAIGN_ONLY", "LOYAL")]
    rows += [
        ("(no counted purchase)", profiles.filter(purchase_count=0).count()),
        ("lapsed (90+ days silent)", lapsed),
        ("guests (no account)", guests),
    ]
    lines += _table("Customers per stage", ("stage", "customers"), rows)

    by_rule: dict[str, Counter] = defaultdict(Counter)
    for rule, status, n in Touchpoint.objects.values_list("rule", "status").annotate(n=Count("id")):
        by_rule[rule][status] = n
    statuses = ("SCHEDULED", "SENT", "SKIPPED", "FAILED", "CANCELLED")
    rows = [(rule, *(counts[s] for s in statuses), sum(counts.values())) for rule, counts in sorted(by_rule.items())]
    lines += _table("Touchpoints per rule and status", ("rule", *statuses, "total"), rows)

    scores = list(NpsResponse.objects.values_list("score", flat=True))
    categories = Counter(nps_category(s).value for s in scores)
    nps = nps_score(scores)
    rows = [
        ("NPS", "n/a" if nps is None else f"{nps:+d}"),
        ("responses", len(scores)),
        (
            "promoters / passives / detractors",
            f"{categories['PROMOTER']} / {categories['PASSIVE']} / {categories['DETRACTOR']}",
        ),
    ]
    dates = _customer_dates()
    f2 = f2_conversion(dates.values(), start, end)
    recent = end - timedelta(days=30)
    repeat = repeat_rate(_purchase_times().values(), recent, end)
    ltv = buyers.filter(currency="JPY").aggregate(v=Avg("lifetime_value_amount"))["v"]
    lead_hours = [
        (fulfilled - placed) / HOUR
        for placed, fulfilled in Purchase.objects.filter(fulfilled_at__isnull=False).values_list(
            "placed_at", "fulfilled_at"
        )
    ]
    same_day = sum(h < 24 for h in lead_hours) / len(lead_hours) if lead_hours else None
    rows += [
        ("F2 conversion (first -> second purchase)", _pct(f2)),
        ("repeat rate (buyers of the last 30 days)", _pct(repeat)),
        ("average LTV (JPY)", f"¥{ltv:,.0f}" if ltv is not None else "n/a"),
        (
            "shipping lead time, median / p90 (hours)",
            f"{percentile(lead_hours, 0.5) or 0:.1f} / {percentile(lead_hours, 0.9) or 0:.1f}",
        ),
        ("shipped the same day", _pct(same_day)),
        (
            "staff tasks open (thank-you cards)",
            Touchpoint.objects.filter(kind="STAFF_TASK", status="SCHEDULED").count(),
        ),
    ]
    lines += _table("Measures", ("measure", "value"), rows)
    return "\n".join(lines)


def _customer_dates() -> dict[int, CustomerDates]:
    times: dict[int, list[datetime]] = _purchase_times()
    return {pid: CustomerDates(t[0], t[1] if len(t) > 1 else None) for pid, t in times.items()}


def _purchase_times() -> dict[int, list[datetime]]:
    times: dict[int, list[datetime]] = defaultdict(list)
    counted = Purchase.objects.filter(Q(cancelled_at__isnull=True) & Q(returned_at__isnull=True))
    for profile_id, placed in counted.order_by("placed_at").values_list("profile_id", "placed_at"):
        times[profile_id].append(placed)
    return times


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _table(title: str, header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    cells = [tuple(str(c) for c in header)] + [
        tuple(f"{c:,}" if isinstance(c, int) else str(c) for c in r) for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    out = [title, "-" * len(title)]
    for n, row in enumerate(cells):
        out.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append("")
    return out
