"""A synthetic shop run through the conveyor over simulated time (what `make demo` shows).

Customers of four kinds (one-off, repeat, loyal, campaign-only; some guests) place
orders over six months; each simulated day the day's events are recorded through the
conveyor service, the lapse scan runs, due touchpoints are delivered, and some
customers answer the surveys they were sent, which feeds the NPS triggers.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from saleor_conveyor import conveyor, measures, stats
from saleor_conveyor.engine import FanDegree, Liking
from saleor_conveyor.engine.rules import DEFAULT_RULES
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
    # Per rule with a planted effect: its setting, and the share of counted reached customers it gave an order.
    planted: dict[str, tuple[float, float | None]] = field(default_factory=dict)


class Simulation:
    def __init__(
        self,
        *,
        customers: int,
        days: int,
        seed: int,
        end: datetime | None = None,
        effects: Mapping[str, float] | None = None,
        within_days: int = 30,
    ):
        """`effects` plants a known effect per rule: a customer the rule's touchpoint reached who had no
        order coming within `within_days` places one in that time with this probability (0.1: +10 points
        among them); customers it held out are left alone. rulePerformance should find it."""
        self.rng = random.Random(seed)
        self.effects = dict(effects or {})
        self.within_days = within_days
        self.order_times: dict[str, list[datetime]] = defaultdict(list)
        # Per rule: (due time, planted or not) of each reached touchpoint, to state what was planted.
        self.planted: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
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

    def _plan_order(self, shopper: Shopper, when: datetime, discounted: bool, *, kept: bool = False) -> None:
        """An order and what happens to it; a `kept` one (a planted effect) is never cancelled or returned."""
        rng = self.rng
        number = next(self.order_numbers)
        order_id = f"demo-order-{number}"
        self.order_times[shopper.customer.email].append(when)
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
        if not kept and rng.random() < 0.03:
            cancel = when + timedelta(hours=rng.uniform(1, 20))
            self._at(cancel, lambda now: conveyor.record_order_cancelled(OrderCancelled(order_id, now), now=now))
            return
        shipped = when + (
            timedelta(hours=rng.uniform(2, 8)) if rng.random() < 0.4 else timedelta(days=rng.uniform(1, 3))
        )
        self._at(shipped, lambda now: conveyor.record_fulfillment(OrderFulfilled(order_id, now), now=now))
        if not kept and rng.random() < 0.02:
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
        planted = {rule: (share, self.planted_share(rule, matured_by=self.end)) for rule, share in self.effects.items()}
        return DemoResult(self.days, self.customer_count, self.orders, self.answers, self.start, self.end, planted)

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
            if tp.rule in self.effects:
                self._plant(shopper, tp.rule, tp.due_at)
            if tp.rule == "nps_survey" and tp.order_id and self.rng.random() < 0.4:
                self._nps_answer(shopper, tp.order_id, tp.due_at)
            elif tp.rule == "fan_survey" and self.rng.random() < 0.3:
                self._fan_answer(shopper, tp.due_at)
            elif tp.rule == "winback_survey" and self.rng.random() < 0.08:
                self._plan_order(shopper, tp.due_at + timedelta(days=self.rng.uniform(2, 20)), True)

    def _plant(self, shopper: Shopper, rule: str, due: datetime) -> None:
        """The planted effect: a reached customer with no order coming in the window may place one."""
        window = timedelta(days=self.within_days)
        coming = any(due < when <= due + window for when in self.order_times[shopper.customer.email])
        planted = not coming and self.rng.random() < self.effects[rule]
        if planted:
            when = due + timedelta(days=self.rng.uniform(1, self.within_days - 0.5))
            self._plan_order(shopper, when, False, kept=True)
        self.planted[rule].append((due, planted))

    def planted_share(self, rule: str, *, matured_by: datetime) -> float | None:
        """The planted effect as it came out: reached customers given an order, of those whose window has passed."""
        rows = [planted for due, planted in self.planted[rule] if due + timedelta(days=self.within_days) <= matured_by]
        return sum(rows) / len(rows) if rows else None

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


# --- the demo's rule book: two rules measured against holdouts, one with a planted effect ----

DEMO_EXPERIMENT = "demo-1"
DEMO_HOLDOUTS = {"step_day7": 0.3, "step_day14": 0.3}
DEMO_EFFECTS = {"step_day7": 0.2}


def demo_rule_book() -> dict:
    """The method's rule book, with 30% of customers held out of step_day7 and step_day14."""
    book = copy.deepcopy(DEFAULT_RULES)
    for rule in book["rules"]:
        if rule["name"] in DEMO_HOLDOUTS:
            rule.update(holdout=DEMO_HOLDOUTS[rule["name"]], experiment=DEMO_EXPERIMENT)
    return book


# --- the owner's summary ----------------------------------------------------------------


def summary(result: DemoResult, lapse_days: int = 90, zone: str = "Asia/Tokyo") -> str:
    """What a shop owner wants to see, as plain-text tables; the figures come from `stats` (SQL)."""
    end, start = result.ended, result.started
    everything = stats.StatsWindow(since=None, until=end, channel=None, zone=zone)
    simulated = stats.StatsWindow(since=start, until=end, channel=None, zone=zone)
    last_30_days = stats.StatsWindow(since=end - timedelta(days=30), until=end, channel=None, zone=zone)
    lines = [
        f"Simulated {result.days} days ({start:%Y-%m-%d} to {end:%Y-%m-%d}): {result.customers:,} customers, "
        f"{Purchase.objects.count():,} orders, {result.answers:,} survey answers.",
        "",
    ]
    profiles = FanProfile.objects.all()
    rows: list[tuple] = list(stats.stages(everything))
    rows += [
        ("(no counted purchase)", profiles.filter(purchase_count=0).count()),
        ("lapsed (90+ days silent)", profiles.filter(last_purchase_at__lte=end - timedelta(days=lapse_days)).count()),
        ("guests (no account)", profiles.filter(user__isnull=True).count()),
    ]
    lines += _table("Customers per stage", ("stage", "customers"), rows)

    by_rule: dict[str, Counter] = defaultdict(Counter)
    # Touchpoints due in the window: include those still waiting for their day.
    outbox = stats.StatsWindow(since=None, until=end + timedelta(days=366), channel=None, zone=zone)
    for rule, _kind, status, count in stats.touchpoints(outbox):
        by_rule[rule][status] += count
    statuses = ("SCHEDULED", "SENT", "SKIPPED", "FAILED", "CANCELLED")
    rows = [(rule, *(counts[s] for s in statuses), sum(counts.values())) for rule, counts in sorted(by_rule.items())]
    lines += _table("Touchpoints per rule and status", ("rule", *statuses, "total"), rows)

    nps = stats.nps(everything)
    lead = stats.shipping_lead_time(everything)
    ltv = next(
        (f"{amount:,.0f} {currency}" for currency, amount, _ in stats.average_lifetime_values(everything)), "n/a"
    )
    rows = [
        ("NPS", "n/a" if nps.score is None else f"{nps.score:+d}"),
        (
            "responses (promoters / passives / detractors)",
            f"{nps.responses:,} ({nps.promoters} / {nps.passives} / {nps.detractors})",
        ),
        ("F2 conversion (first -> second purchase)", _pct(stats.f2_conversion(simulated))),
        ("repeat rate (buyers of the last 30 days)", _pct(stats.repeat_rate(last_30_days))),
        ("average LTV (average order value x purchases)", ltv),
        ("shipping lead time, median / p90 (hours)", f"{lead.median_hours or 0:.1f} / {lead.p90_hours or 0:.1f}"),
        ("shipped the same day", _pct(lead.same_day_rate)),
        (
            "staff tasks open (thank-you cards)",
            Touchpoint.objects.filter(kind="STAFF_TASK", status="SCHEDULED").count(),
        ),
    ]
    lines += _table("Measures", ("measure", "value"), rows)

    monthly = stats.monthly(simulated)
    rows = [
        (
            f"{m.month:%Y-%m}",
            "n/a" if m.nps is None else f"{m.nps:+d}",
            _pct(m.repeat_rate),
            "n/a" if m.average_order_value is None else f"{m.average_order_value:,.0f}",
            m.orders,
        )
        for m in monthly.months
    ]
    lines += _table("Month by month", ("month", "NPS", "repeat rate", "avg order value", "orders"), rows)
    lines.append(
        f"Months in a row improving (the method asks for four): NPS {monthly.streak('nps')}, "
        f"repeat rate {monthly.streak('repeat_rate')}, average order value {monthly.streak('average_order_value')}."
    )
    lines.append("")
    lines += _performance_lines(result, simulated)
    lines += _flow_lines(simulated)
    return "\n".join(lines)


def _performance_lines(result: DemoResult, window: stats.StatsWindow, within_days: int = 30) -> list[str]:
    """rulePerformance as a table: each rule's reached customers against those held out from it."""
    rows = [
        (
            row.rule + (f" ({row.variant})" if row.variant else ""),
            row.reached,
            row.held_out,
            _pct(row.comparison.reached_rate),
            _pct(row.comparison.held_out_rate),
            row.comparison.words,
        )
        for row in measures.rule_performance(window, within_days=within_days, now=result.ended)
        if row.held_out or row.rule in DEMO_HOLDOUTS
    ]
    shown = {row[0] for row in rows}
    rows += [
        (rule, 0, 0, "n/a", "n/a", f"not enough customers yet (one counts once its {within_days} days have passed)")
        for rule in DEMO_HOLDOUTS
        if rule not in shown
    ]
    lines = _table(
        f"Rule performance: bought again within {within_days} days, reached vs held out",
        ("rule", "reached", "held out", "reached", "held out", "verdict"),
        sorted(rows),
    )
    for rule, (setting, came_out) in result.planted.items():
        lines.append(
            f"Planted by the simulation: {rule} gave {setting:.0%} of reached customers with no order coming "
            f"one more ({_pct(came_out)} of those counted): the difference should cover that."
        )
    return [*lines, ""] if result.planted else lines


def _flow_lines(window: stats.StatsWindow) -> list[str]:
    """stageFlow as a table: customers who changed stage (or engagement class), per month."""
    moves = [move for move in measures.stage_flow(window) if move.from_stage != move.to_stage]
    months = sorted({move.month for move in moves})
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for move in moves:
        counts[(move.dimension, f"{move.from_stage} -> {move.to_stage}")][move.month] += move.customers
    rows = [
        (f"{label}" if dimension == measures.STAGE else f"{label} (engagement)", *(by_month[m] for m in months))
        for (dimension, label), by_month in sorted(
            counts.items(), key=lambda item: (item[0][0] != measures.STAGE, item[0])
        )
    ]
    return _table(
        "Stage flow: customers who moved, per month",
        ("from -> to", *(f"{m:%Y-%m}" for m in months)),
        rows or [("(nobody moved)",)],
    )


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
