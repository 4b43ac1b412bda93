"""The overview page: the shop's measures at a glance, each chart with its numbers as a table and as CSV.

Every figure is read through `stats.StatsReport` (what `conveyorStats` answers) and `measures.py`
(`rulePerformance`, `stageFlow`, `cohorts`), for a window made exactly as the GraphQL resolvers
make it; this module only lays those figures out. One `Table` per part feeds the page's table,
its chart and the CSV, so the three cannot disagree.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import queue
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from .. import conf, measures, work_queues
from ..engine import FanStage
from ..errors import ConveyorError
from ..hosts import MANAGE_ORDERS, get_host
from ..stats import BANDS, FIRST_DAY, LAST_DAY, StatsReport, StatsWindow
from . import charts
from .views import NAVIGATION, console_page, console_url, render_console, staff_language

logger = logging.getLogger(__name__)
PARTS = (
    "nps",
    "nps_monthly",
    "stages",
    "engagement",
    "ltv",
    "lead_time",
    "touchpoints",
    "rule_performance",
    "stage_flow",
    "cohorts",
)
CHANNEL_MAX = 100
DISPLAY_STATUSES = ("SCHEDULED", "SENT", "SKIPPED", "FAILED", "CANCELLED")
FUNNEL = (FanStage.FIRST_TIME, FanStage.SECOND_TIME, FanStage.LOYAL)

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "nav_overview": "概要",
        "overview_title": "概要",
        "open_work": "未対応の仕事",
        "open_staff_tasks": "スタッフタスク",
        "open_returns": "返品依頼",
        "open_inquiries": "問い合わせ",
        "open_follow_ups": "フォローアップ",
        "filter": "期間とチャネル",
        "since": "開始日",
        "until": "終了日(この日を含む)",
        "channel": "チャネル(スラッグ)",
        "channel_any": "すべてのチャネル",
        "apply": "表示",
        "reset": "条件を消す",
        "bad_date": "日付は YYYY-MM-DD の形で、1900-01-01 から 2999-12-31 までにしてください。",
        "bad_order": "開始日が終了日より後になっています。",
        "bad_channel": "チャネルのスラッグが長すぎるか、使えない文字を含んでいます。",
        "window_all": "すべての期間",
        "figures_as_of": "{time} 時点の数値です(最長 {minutes} 分間、同じ計算結果を表示します)",
        "refresh": "最新の数値にする",
        "reload_now": "今すぐ再読み込み",
        "figures_computing": "この期間の数値を計算しています。できしだいページが自動で更新されます。",
        "figures_updating": "最新の数値を計算中です。できしだいページが自動で更新されます。",
        "window": "期間: {since} 〜 {until}",
        "to_now": "現在",
        "from_start": "最初",
        "no_data": "まだデータがありません",
        "nps": "NPS(顧客推奨度)",
        "nps_help": "推奨者(9〜10)の割合 - 批判者(0〜6)の割合",
        "answers": "回答数",
        "promoters": "推奨者",
        "passives": "中立者",
        "detractors": "批判者",
        "all_answers": "回答の合計",
        "score": "スコア",
        "category": "区分",
        "share": "割合",
        "nps_monthly": "NPS の月ごとの推移",
        "streak": "改善の連続: {months} か月",
        "streak_goal": "目標は 4 か月連続の改善です。",
        "streak_reached": "4 か月以上連続で改善しています。",
        "streak_series": "連続して改善した月",
        "month": "月",
        "improved": "前月より改善",
        "in_streak": "連続改善に含まれる",
        "repeat_rate": "リピート率",
        "average_order_value": "平均注文額",
        "currency": "通貨",
        "orders": "注文数",
        "yes": "はい",
        "no": "いいえ",
        "stages": "ステージ別の顧客数",
        "stage": "ステージ",
        "customers": "顧客数",
        "stage_FIRST_TIME": "初回購入",
        "stage_SECOND_TIME": "2 回目購入",
        "stage_LOYAL": "ロイヤル(3 回以上)",
        "stage_CAMPAIGN_ONLY": "キャンペーンのみ",
        "stage_NONE": "未購入",
        "campaign_aside": "キャンペーンのみで購入: {count} 人(割引やセールのときだけ購入)",
        "f2_conversion": "F2 転換率(2 回目購入への転換)",
        "measure": "指標",
        "value": "値",
        "engagement": "エンゲージメント(3\u00d73)",
        "engagement_help": "縦: ファン度、横: 好意度。セルの数字は顧客数です。",
        "fan_band": "ファン度",
        "liking_band": "好意度",
        "cell": "セル",
        "band_HIGH": "高",
        "band_MID": "中",
        "band_LOW": "低",
        "ltv": "平均 LTV(通貨別)",
        "ltv_help": "期間内に購入した顧客の、終了日までの購入額の平均",
        "average_ltv": "平均 LTV",
        "lead_time": "出荷リードタイム(月別)",
        "median_hours": "中央値(時間)",
        "p90_hours": "90 パーセンタイル(時間)",
        "same_day": "当日出荷の割合",
        "shipped": "出荷数",
        "whole_window": "期間全体",
        "hours": "時間",
        "touchpoints": "ルール別・状態別のタッチポイント",
        "rule": "ルール",
        "kind": "種類",
        "status": "状態",
        "count": "件数",
        "status_SCHEDULED": "予定",
        "status_SENT": "送信済み",
        "status_SKIPPED": "スキップ",
        "status_FAILED": "失敗",
        "status_CANCELLED": "取り消し",
        "rule_performance": "ルールの効果(ホールドアウト比較)",
        "rule_performance_help": (
            "送った顧客と送らなかった顧客(ホールドアウト)の、{days} 日以内の再購入率の差(ポイント)と 95% 区間"
        ),
        "experiment": "実験",
        "variant": "バリアント",
        "own_template": "(標準)",
        "reached": "送った顧客",
        "held_out": "ホールドアウト",
        "reached_rate": "再購入率(送った)",
        "held_out_rate": "再購入率(ホールドアウト)",
        "difference": "差(ポイント)",
        "difference_low": "95% 区間の下限",
        "difference_high": "95% 区間の上限",
        "revenue_per_customer": "顧客あたり売上(送った)",
        "held_out_revenue_per_customer": "顧客あたり売上(ホールドアウト)",
        "verdict": "判定",
        "verdict_TOO_FEW": "まだ顧客が足りません",
        "verdict_BETTER": "効果あり(良い)",
        "verdict_WORSE": "逆効果(悪い)",
        "verdict_NO_CLEAR_DIFFERENCE": "はっきりした差はありません",
        "stage_flow": "ステージの移り変わり",
        "stage_flow_help": "各月末にステージごとの顧客数(表には月ごとの移動を示します)",
        "dimension": "軸",
        "dimension_STAGE": "ステージ",
        "dimension_ENGAGEMENT": "エンゲージメント",
        "from_stage": "前月末",
        "to_stage": "当月末",
        "class_CORE": "コア",
        "class_GROWING": "成長中",
        "class_COOL": "クール",
        "cohorts": "コホート(初回購入月別の再購入)",
        "cohorts_help": "初回購入の月ごとに、その後の各月に購入した顧客の割合",
        "cohort": "初回購入月",
        "month_after": "{n} か月後",
    },
    "en": {
        "nav_overview": "Overview",
        "overview_title": "Overview",
        "open_work": "Open work",
        "open_staff_tasks": "Staff tasks",
        "open_returns": "Returns to decide",
        "open_inquiries": "Open inquiries",
        "open_follow_ups": "Follow-ups",
        "filter": "Dates and channel",
        "since": "From",
        "until": "Until (inclusive)",
        "channel": "Channel (slug)",
        "channel_any": "every channel",
        "apply": "Show",
        "reset": "Clear",
        "bad_date": "Give dates as YYYY-MM-DD, from 1900-01-01 to 2999-12-31.",
        "bad_order": "The first day is after the last day.",
        "bad_channel": "The channel slug is too long or has characters a slug cannot have.",
        "window_all": "All time",
        "figures_as_of": "Figures as of {time} (the same figures are shown for up to {minutes} minutes)",
        "refresh": "Refresh the figures",
        "reload_now": "Reload now",
        "figures_computing": "The figures for this window are being computed; this page reloads when they are ready.",
        "figures_updating": "Newer figures are being computed; this page reloads itself when they are ready.",
        "window": "Window: {since} to {until}",
        "to_now": "now",
        "from_start": "the beginning",
        "no_data": "No data yet",
        "nps": "NPS (net promoter score)",
        "nps_help": "% promoters (9-10) minus % detractors (0-6)",
        "answers": "Answers",
        "promoters": "Promoters",
        "passives": "Passives",
        "detractors": "Detractors",
        "all_answers": "All answers",
        "score": "Score",
        "category": "Category",
        "share": "Share",
        "nps_monthly": "NPS month by month",
        "streak": "Improving streak: {months} months",
        "streak_goal": "The goal is four months in a row of improvement.",
        "streak_reached": "Four or more months in a row have improved.",
        "streak_series": "Months in the improving streak",
        "month": "Month",
        "improved": "Beat the month before",
        "in_streak": "In the improving streak",
        "repeat_rate": "Repeat rate",
        "average_order_value": "Average order value",
        "currency": "Currency",
        "orders": "Orders",
        "yes": "yes",
        "no": "no",
        "stages": "Customers per stage",
        "stage": "Stage",
        "customers": "Customers",
        "stage_FIRST_TIME": "First purchase",
        "stage_SECOND_TIME": "Second purchase",
        "stage_LOYAL": "Loyal (3+)",
        "stage_CAMPAIGN_ONLY": "Campaign only",
        "stage_NONE": "Not yet bought",
        "campaign_aside": "Campaign-only buyers: {count} (buy only with a discount or sale)",
        "f2_conversion": "F2 conversion (first to second purchase)",
        "measure": "Measure",
        "value": "Value",
        "engagement": "Engagement grid (3\u00d73)",
        "engagement_help": "Rows: fan degree; columns: liking. Each cell shows its customers.",
        "fan_band": "Fan degree",
        "liking_band": "Liking",
        "cell": "Cell",
        "band_HIGH": "High",
        "band_MID": "Mid",
        "band_LOW": "Low",
        "ltv": "Average LTV per currency",
        "ltv_help": "What the window's buyers had spent up to its last day, on average",
        "average_ltv": "Average LTV",
        "lead_time": "Shipping lead time by month",
        "median_hours": "Median (hours)",
        "p90_hours": "90th percentile (hours)",
        "same_day": "Shipped the same day",
        "shipped": "Shipped orders",
        "whole_window": "Whole window",
        "hours": "hours",
        "touchpoints": "Touchpoints per rule and status",
        "rule": "Rule",
        "kind": "Kind",
        "status": "Status",
        "count": "Count",
        "status_SCHEDULED": "Scheduled",
        "status_SENT": "Sent",
        "status_SKIPPED": "Skipped",
        "status_FAILED": "Failed",
        "status_CANCELLED": "Cancelled",
        "rule_performance": "Rule performance against holdouts",
        "rule_performance_help": (
            "Bought again within {days} days: reached minus held out (points), with its 95% interval"
        ),
        "experiment": "Experiment",
        "variant": "Variant",
        "own_template": "(rule's own)",
        "reached": "Reached",
        "held_out": "Held out",
        "reached_rate": "Bought again (reached)",
        "held_out_rate": "Bought again (held out)",
        "difference": "Difference (points)",
        "difference_low": "95% interval, low",
        "difference_high": "95% interval, high",
        "revenue_per_customer": "Revenue per customer (reached)",
        "held_out_revenue_per_customer": "Revenue per customer (held out)",
        "verdict": "Verdict",
        "verdict_TOO_FEW": "Not enough customers yet",
        "verdict_BETTER": "Better",
        "verdict_WORSE": "Worse",
        "verdict_NO_CLEAR_DIFFERENCE": "No clear difference",
        "stage_flow": "Stage flow",
        "stage_flow_help": "Customers per stage at each month's end (the table lists the month's moves)",
        "dimension": "Dimension",
        "dimension_STAGE": "Stage",
        "dimension_ENGAGEMENT": "Engagement",
        "from_stage": "End of the month before",
        "to_stage": "End of the month",
        "class_CORE": "Core",
        "class_GROWING": "Growing",
        "class_COOL": "Cool",
        "cohorts": "Cohorts (bought again after the first month)",
        "cohorts_help": "By month of first purchase: the share who bought in each later month",
        "cohort": "First purchase",
        "month_after": "+{n} mo",
    },
}


@dataclass(frozen=True)
class Cell:
    """One value of a table: `raw` goes to the CSV, `shown` to the page."""

    raw: Any
    shown: str

    @property
    def csv(self) -> str:
        return "" if self.raw is None else str(self.raw)


@dataclass
class Table:
    """One chart's numbers: the page's table, the CSV and the chart all read these rows."""

    part: str
    header: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


@dataclass(frozen=True)
class Filter:
    """The page's GET form: since/until (shop days, until inclusive) and a channel slug."""

    since: date | None = None
    until: date | None = None
    channel: str | None = None

    def query(self) -> dict[str, str]:
        return {
            key: str(value)
            for key, value in (("since", self.since), ("until", self.until), ("channel", self.channel))
            if value
        }


def read_filter(request: HttpRequest) -> tuple[Filter, list[str]]:
    """The form's values, and the words keys of what is wrong with them (nothing is shown for a bad filter)."""
    errors: list[str] = []
    days: dict[str, date | None] = {}
    for name in ("since", "until"):
        text = request.GET.get(name, "").strip()[:32]
        days[name] = None
        if text:
            try:
                days[name] = date.fromisoformat(text)
            except ValueError:
                errors.append("bad_date")
                continue
            if not FIRST_DAY <= days[name] <= LAST_DAY:
                days[name] = None
                errors.append("bad_date")
    channel = request.GET.get("channel", "").strip()
    if len(channel) > CHANNEL_MAX or any(not (ch.isalnum() or ch in "-_") for ch in channel):
        errors.append("bad_channel")
        channel = ""
    if days["since"] and days["until"] and days["since"] > days["until"]:
        errors.append("bad_order")
    return Filter(days["since"], days["until"], channel or None), sorted(set(errors))


def window_of(chosen: Filter, now: datetime) -> StatsWindow:
    """The window exactly as the GraphQL resolvers make it (the shop's zone, the host's replica for staff)."""
    host = get_host()
    window = StatsWindow.from_dates(
        chosen.since,
        chosen.until,
        chosen.channel,
        zone=host.config().time_zone,
        now=now,
        using=host.replica_alias(),
    )
    if chosen.since and chosen.until and chosen.since > chosen.until:
        raise ConveyorError("since is after until.", field="since")
    return window


def _share(value: float | None) -> Cell:
    return Cell(None if value is None else round(value, 4), "—" if value is None else f"{value * 100:.1f}%")


def _int(value: int | None) -> Cell:
    return Cell(value, "—" if value is None else f"{value:,}")


def _hours(value: float | None) -> Cell:
    return Cell(None if value is None else round(value, 2), "—" if value is None else f"{value:.1f}")


def _points(value: float | None) -> Cell:
    return Cell(None if value is None else round(value * 100, 2), "—" if value is None else f"{value * 100:+.1f}")


def _text(value: str | None, shown: str | None = None) -> Cell:
    return Cell(value, shown if shown is not None else (value or "—"))


def _money(amount: Decimal | None, currency: str | None, language: str) -> Cell:
    if amount is None or currency is None:
        return Cell(None, "—")
    return Cell(amount, format_currency(amount, currency, locale="ja_JP" if language == "ja" else "en_US"))


# The figures the overview reads, each computed once per window and kept as a whole: StatsReport's and the measures'.
REPORT_FIGURES = (
    "nps",
    "stages",
    "f2_conversion_rate",
    "repeat_rate",
    "average_lifetime_values",
    "shipping_lead_time",
    "shipping_lead_time_by_month",
    "engagement_grid",
    "touchpoints",
    "monthly",
)
# Every figure the page reads, the longest to compute first (docs/benchmarks.md, "Console pages"): run at once on a
# few connections, the page waits about as long as the longest.
LONGEST_FIRST = (
    "rule_performance",
    "stage_flow",
    "shipping_lead_time",
    "monthly",
    "average_lifetime_values",
    "f2_conversion_rate",
    "touchpoints",
    "nps",
    "engagement_grid",
    "stages",
)
CACHE_FORMAT = 1  # raised when a kept figure's shape changes, so old entries are not read
CLOCK_TOLERANCE = timedelta(seconds=5)


class Figures:
    """The figures of one window, kept in Django's cache for `conf.CONSOLE_CACHE_SECONDS` (0: not kept).

    Why: at 100,000 customers the overview's statements take seconds together (rule performance and
    stage flow each read the whole ledger and outbox; docs/benchmarks.md), and staff open the page,
    change a filter and come back. A shop admin expects a dashboard to say how fresh it is rather than
    to wait, so the page shows figures up to a few minutes old, says "figures as of HH:MM" (the oldest
    figure shown) and has a refresh link that computes them again. Each figure is computed exactly as
    `conveyorStats` and the measures compute it (the GraphQL API is never cached) and kept with the
    time it was computed, under a key of the window as chosen (dates, not "now"), the channel, the
    shop's time zone, the database read and the rule book, so another window, channel or rule book
    never shows these. A CSV reads the same kept figures as the page it was linked from.
    """

    def __init__(self, window: StatsWindow, chosen: Filter, now: datetime, within_days: int, *, fresh: bool) -> None:
        self.report = StatsReport(window)
        self.now = now
        self.seconds = conf.CONSOLE_CACHE_SECONDS
        book = repr(get_host().config().rule_book)
        database = connections[window.using].settings_dict  # a cache shared by several shops never mixes them
        shop = (window.using, database.get("HOST"), database.get("PORT"), database.get("NAME"))
        parts = (CACHE_FORMAT, chosen.since, chosen.until, chosen.channel, window.zone, shop, within_days, book)
        self.key = "conveyor:overview:" + hashlib.sha256(repr(parts).encode()).hexdigest()
        kept = {} if fresh or not self.seconds else _cached(lambda: cache.get(self.key)) or {}
        oldest = now - timedelta(seconds=self.seconds)
        latest = now + CLOCK_TOLERANCE  # kept by another host whose clock runs a little ahead of this one's
        self._held: dict[str, tuple[datetime, Any]] = {
            name: (at, value) for name, (at, value) in kept.items() if oldest < at <= latest
        }
        self._changed = False

    def get(self, name: str, compute: Callable[[], Any]) -> Any:
        """The kept figure, or `compute()` now (kept with this request's time)."""
        if name not in self._held:
            self._held[name] = (self.now, compute())
            self._changed = True
        return self._held[name][1]

    def compute(self, computations: Mapping[tuple[str, ...], Callable[[], tuple[Any, ...]]], using: str) -> None:
        """Compute now the figures of `computations` (names, a call answering each) of which one is not kept, at
        once on a few connections (`_concurrently`)."""
        missing = {names: compute for names, compute in computations.items() if set(names) - set(self._held)}
        for names, values in _concurrently(missing, using).items():
            for name, value in zip(names, values, strict=True):
                if name not in self._held:
                    self._held[name] = (self.now, value)
                    self._changed = True

    @property
    def as_of(self) -> datetime:
        """When the oldest figure read so far was computed (this request's time if none was kept)."""
        return min((at for at, _ in self._held.values()), default=self.now)

    def keep(self) -> None:
        """Store what this request computed beside what it read, for the rest of the oldest one's time."""
        if self._changed and self.seconds:
            left = self.seconds - (self.now - self.as_of).total_seconds()
            _cached(lambda: cache.set(self.key, self._held, max(int(left), 1)))


def _rank(name: str) -> int:
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def _concurrently(calls: Mapping[Any, Callable[[], Any]], using: str) -> dict[Any, Any]:
    """Each call's answer, the calls taken in order by `conf.CONSOLE_CONNECTIONS` workers: this thread on the
    request's connection and the others each on a connection of its own, closed when they are done.

    Why: each figure is one statement reading most of a table, and nothing else; at 100,000 customers they take
    seconds one after another and about as long as the longest at once (docs/benchmarks.md). Inside a
    transaction (a test's, ATOMIC_REQUESTS) another connection would not see its rows, so the calls run one
    after another on the request's connection, as they do with 1.
    """
    workers = min(conf.CONSOLE_CONNECTIONS, len(calls))
    if workers <= 1 or any(connections[alias].in_atomic_block for alias in {using, DEFAULT_DB_ALIAS}):
        return {name: call() for name, call in calls.items()}
    pending: queue.SimpleQueue[tuple[Any, Callable[[], Any]]] = queue.SimpleQueue()
    for item in calls.items():
        pending.put(item)
    answers: dict[Any, Any] = {}
    failures: list[BaseException] = []

    def work() -> None:
        while not failures:
            try:
                name, call = pending.get_nowait()
            except queue.Empty:
                return
            try:
                answers[name] = call()
            except BaseException as error:  # re-raised in the request's thread
                failures.append(error)

    def own_connection() -> None:
        try:
            work()
        finally:
            connections.close_all()  # this thread's connections only

    helpers = [threading.Thread(target=own_connection, name=f"conveyor-figures-{n}") for n in range(1, workers)]
    for helper in helpers:
        helper.start()
    try:
        work()
    finally:
        for helper in helpers:
            helper.join()
    if failures:
        raise failures[0]
    return {name: answers[name] for name in calls}


def _cached(call: Callable[[], Any]) -> Any:
    """A cache that cannot be reached (Redis down) makes the page compute its figures, not fail."""
    try:
        return call()
    except Exception:  # any backend's error: the figures are computed instead
        logger.warning("the console's figures cache could not be used", exc_info=True)
        return None


class _KeptReport:
    """`StatsReport`'s figures read through `Figures` (the table and chart code keeps reading `page.report.x`)."""

    def __init__(self, figures: Figures) -> None:
        self._figures = figures

    def __getattr__(self, name: str) -> Any:
        if name not in REPORT_FIGURES:
            raise AttributeError(name)
        return self._figures.get(name, lambda: getattr(self._figures.report, name))


class Overview:
    """The page's figures for one window, each read once (through `Figures`: computed, or kept for a few minutes)."""

    def __init__(
        self,
        window: StatsWindow,
        words: Mapping[str, str],
        language: str,
        now: datetime,
        chosen: Filter | None = None,
        *,
        fresh: bool = False,
    ) -> None:
        self.window = window
        self.words = words
        self.language = language
        self.now = now
        self.within_days = measures.WITHIN_DAYS_DEFAULT
        self.figures = Figures(window, chosen or Filter(), now, self.within_days, fresh=fresh or chosen is None)
        self.report = _KeptReport(self.figures)

    def _w(self, key: str) -> str:
        return self.words.get(key, key)

    def _computations(self) -> dict[tuple[str, ...], Callable[[], tuple[Any, ...]]]:
        """How the figures are computed, the longest first: StatsReport's (what conveyorStats answers) and the
        measures'; figures of one statement together (their names, a call answering each)."""
        report = self.figures.report
        together = {
            ("rule_performance",): lambda: (
                measures.rule_performance(self.window, within_days=self.within_days, now=self.now),
            ),
            ("stage_flow", "cohorts"): lambda: measures.stage_flow_and_cohorts(self.window),
            ("shipping_lead_time", "shipping_lead_time_by_month"): lambda: report.shipping_lead_times,
            ("f2_conversion_rate", "repeat_rate"): lambda: report.customer_rates,
        }
        named = {name for names in together for name in names}
        alone = {(name,): (lambda name=name: (getattr(report, name),)) for name in REPORT_FIGURES if name not in named}
        computations = {**together, **alone}
        return dict(sorted(computations.items(), key=lambda item: _rank(item[0][0])))

    def figures_missing(self) -> bool:
        """Whether a figure of the heavy statements is not kept (the page would compute it)."""
        return any(set(names) - set(self.figures._held) for names in self._computations())

    def compute_figures(self) -> None:
        """Every figure the page reads that is not kept, computed now, at once on a few connections."""
        self.figures.compute(self._computations(), self.window.using)

    @property
    def rule_performance(self) -> list[measures.RulePerformance]:
        return self.figures.get(
            "rule_performance",
            lambda: measures.rule_performance(self.window, within_days=self.within_days, now=self.now),
        )

    @property
    def stage_flow(self) -> list[measures.StageMove]:
        return self.figures.get("stage_flow", lambda: measures.stage_flow(self.window))

    @property
    def cohorts(self) -> list[measures.Cohort]:
        return self.figures.get("cohorts", lambda: measures.cohorts(self.window))

    @cached_property
    def streak(self) -> int:
        return self.report.monthly.streak("nps")

    # --- one Table per part ---------------------------------------------------------------

    def table(self, part: str) -> Table:
        return getattr(self, f"_table_{part}")()

    def _table_nps(self) -> Table:
        nps = self.report.nps
        table = Table("nps", [self._w("category"), self._w("answers"), self._w("share")])
        for key, count in (("promoters", nps.promoters), ("passives", nps.passives), ("detractors", nps.detractors)):
            table.rows.append(
                [_text(key, self._w(key)), _int(count), _share(count / nps.responses if nps.responses else None)]
            )
        table.rows.append([_text("responses", self._w("all_answers")), _int(nps.responses), _share(None)])
        table.rows.append([_text("score", self._w("score")), _int(nps.score), _share(None)])
        return table

    def _table_nps_monthly(self) -> Table:
        months = self.report.monthly.months
        table = Table(
            "nps_monthly",
            [
                self._w("month"),
                "NPS",
                self._w("improved"),
                self._w("in_streak"),
                self._w("repeat_rate"),
                self._w("average_order_value"),
                self._w("orders"),
            ],
        )
        first_in_streak = len(months) - self.streak
        for index, month in enumerate(months):
            before = months[index - 1].nps if index else None
            improved = None if before is None or month.nps is None else month.nps > before
            in_streak = self.streak > 0 and index >= first_in_streak
            table.rows.append(
                [
                    _text(f"{month.month:%Y-%m}"),
                    _int(month.nps),
                    Cell(improved, "—" if improved is None else self._w("yes" if improved else "no")),
                    Cell(in_streak, self._w("yes" if in_streak else "no")),
                    _share(month.repeat_rate),
                    _money(month.average_order_value, month.currency, self.language),
                    _int(month.orders),
                ]
            )
        return table

    def _table_stages(self) -> Table:
        counts = dict(self.report.stages)
        table = Table("stages", [self._w("measure"), self._w("value")])
        for stage in (*FUNNEL, FanStage.CAMPAIGN_ONLY):
            table.rows.append([_text(stage.value, self._w(f"stage_{stage.value}")), _int(counts.get(stage.value, 0))])
        table.rows.append(
            [_text("f2_conversion_rate", self._w("f2_conversion")), _share(self.report.f2_conversion_rate)]
        )
        table.rows.append([_text("repeat_rate", self._w("repeat_rate")), _share(self.report.repeat_rate)])
        return table

    def _table_engagement(self) -> Table:
        table = Table(
            "engagement", [self._w("cell"), self._w("fan_band"), self._w("liking_band"), self._w("customers")]
        )
        for cell, count in self.report.engagement_grid:
            fan, liking = cell.split("/")
            table.rows.append(
                [_text(cell), _text(fan, self._w(f"band_{fan}")), _text(liking, self._w(f"band_{liking}")), _int(count)]
            )
        return table

    def _table_ltv(self) -> Table:
        table = Table("ltv", [self._w("currency"), self._w("average_ltv"), self._w("customers")])
        for currency, amount, customers in self.report.average_lifetime_values:
            table.rows.append([_text(currency), _money(amount, currency, self.language), _int(customers)])
        return table

    def _table_lead_time(self) -> Table:
        table = Table(
            "lead_time",
            [self._w("month"), self._w("median_hours"), self._w("p90_hours"), self._w("same_day"), self._w("shipped")],
        )
        whole = self.report.shipping_lead_time
        for month, lead in [*((f"{m:%Y-%m}", lead) for m, lead in self.report.shipping_lead_time_by_month)]:
            table.rows.append(
                [
                    _text(month),
                    _hours(lead.median_hours),
                    _hours(lead.p90_hours),
                    _share(lead.same_day_rate),
                    _int(lead.shipped),
                ]
            )
        table.rows.append(
            [
                _text("all", self._w("whole_window")),
                _hours(whole.median_hours),
                _hours(whole.p90_hours),
                _share(whole.same_day_rate),
                _int(whole.shipped),
            ]
        )
        return table

    def _table_touchpoints(self) -> Table:
        table = Table("touchpoints", [self._w("rule"), self._w("kind"), self._w("status"), self._w("count")])
        for rule, kind, status, count in self.report.touchpoints:
            table.rows.append([_text(rule), _text(kind), _text(status, self._w(f"status_{status}")), _int(count)])
        return table

    def _table_rule_performance(self) -> Table:
        header = [
            "rule",
            "experiment",
            "variant",
            "reached",
            "held_out",
            "reached_rate",
            "held_out_rate",
            "difference",
            "difference_low",
            "difference_high",
            "revenue_per_customer",
            "held_out_revenue_per_customer",
            "verdict",
        ]
        table = Table("rule_performance", [self._w(key) for key in header])
        for row in self.rule_performance:
            comparison = row.comparison
            table.rows.append(
                [
                    _text(row.rule),
                    _text(row.experiment or None),
                    _text(row.variant, row.variant or self._w("own_template")),
                    _int(row.reached),
                    _int(row.held_out),
                    _share(comparison.reached_rate),
                    _share(comparison.held_out_rate),
                    _points(comparison.difference),
                    _points(comparison.low),
                    _points(comparison.high),
                    _money(row.revenue_per_customer, row.currency, self.language),
                    _money(row.held_out_revenue_per_customer, row.currency, self.language),
                    _text(comparison.verdict.value, self._w(f"verdict_{comparison.verdict.value}")),
                ]
            )
        return table

    def _stage_name(self, dimension: str, name: str) -> str:
        if dimension == measures.ENGAGEMENT and name != measures.NONE:
            return self._w(f"class_{name}")
        return self._w(f"stage_{name}")

    def _table_stage_flow(self) -> Table:
        table = Table(
            "stage_flow",
            [self._w("month"), self._w("dimension"), self._w("from_stage"), self._w("to_stage"), self._w("customers")],
        )
        for move in self.stage_flow:
            table.rows.append(
                [
                    _text(f"{move.month:%Y-%m}"),
                    _text(move.dimension, self._w(f"dimension_{move.dimension}")),
                    _text(move.from_stage, self._stage_name(move.dimension, move.from_stage)),
                    _text(move.to_stage, self._stage_name(move.dimension, move.to_stage)),
                    _int(move.customers),
                ]
            )
        return table

    def _table_cohorts(self) -> Table:
        longest = max((len(cohort.bought_again) for cohort in self.cohorts), default=0)
        header = [self._w("cohort"), self._w("customers")]
        header += [self._w("month_after").format(n=n) for n in range(1, longest + 1)]
        table = Table("cohorts", header)
        for cohort in self.cohorts:
            shares = [_share(value) for value in cohort.bought_again]
            shares += [Cell(None, "")] * (longest - len(shares))
            table.rows.append([_text(f"{cohort.month:%Y-%m}"), _int(cohort.customers), *shares])
        return table

    # --- the charts -----------------------------------------------------------------------

    def charts(self, nonce: str) -> dict[str, str]:
        """Each part's SVG (the engagement grid and the cohorts are drawn by the template)."""
        w = self._w
        nps = self.report.nps
        months = self.report.monthly.months
        labels = [f"{month.month:%Y-%m}" for month in months]
        first_in_streak = len(months) - self.streak - 1  # the streak's line starts at the month it beat
        marked = [month.nps if self.streak and index >= first_in_streak else None for index, month in enumerate(months)]
        stages = dict(self.report.stages)
        by_month = self.report.shipping_lead_time_by_month
        touch = defaultdict(lambda: defaultdict(int))
        for rule, _kind, status, count in self.report.touchpoints:
            touch[status][rule] += count
        rules = sorted({rule for rule, *_ in self.report.touchpoints})
        moves = [move for move in self.stage_flow if move.dimension == measures.STAGE]
        flow_months = sorted({move.month for move in moves})
        at_end: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
        for move in moves:
            at_end[move.to_stage][move.month] += move.customers
        return {
            "nps": charts.nps_split(
                w("nps"),
                [w("promoters"), w("passives"), w("detractors")],
                [nps.promoters, nps.passives, nps.detractors],
                nonce,
            ),
            "nps_monthly": charts.line(
                w("nps_monthly"),
                labels,
                [("NPS", [month.nps for month in months])],
                nonce,
                marked=(f"{w('streak_series')} ({self.streak})", marked) if self.streak else None,
            ),
            "stages": charts.funnel(
                w("stages"), [(w(f"stage_{stage.value}"), stages.get(stage.value, 0)) for stage in FUNNEL], nonce
            ),
            "lead_time": charts.line(
                w("lead_time"),
                [f"{month:%Y-%m}" for month, _ in by_month],
                [
                    (w("median_hours"), [lead.median_hours for _, lead in by_month]),
                    (w("p90_hours"), [lead.p90_hours for _, lead in by_month]),
                ],
                nonce,
                secondary=(
                    f"{w('same_day')} (%)",
                    [None if lead.same_day_rate is None else lead.same_day_rate * 100 for _, lead in by_month],
                ),
                value_formatter=lambda value: f"{value:.1f}",
            ),
            "touchpoints": charts.stacked_bars(
                w("touchpoints"),
                rules,
                [
                    (w(f"status_{status}"), [touch[status][rule] for rule in rules])
                    for status in DISPLAY_STATUSES
                    if status in touch
                ],
                nonce,
                horizontal=True,
            ),
            "rule_performance": ""
            if not any(row.comparison.difference is not None for row in self.rule_performance)
            else charts.differences(
                w("rule_performance"),
                [
                    (
                        f"{row.rule}{' / ' + row.variant if row.variant else ''}"
                        f" — {w('verdict_' + row.comparison.verdict.value)}",
                        row.comparison.difference,
                        row.comparison.low,
                        row.comparison.high,
                    )
                    for row in self.rule_performance
                ],
                nonce,
                w("difference"),
            ),
            "stage_flow": charts.stacked_bars(
                w("stage_flow"),
                [f"{month:%Y-%m}" for month in flow_months],
                [
                    (w(f"stage_{stage.value}"), [at_end[stage.value][month] for month in flow_months])
                    for stage in (*FUNNEL, FanStage.CAMPAIGN_ONLY)
                ],
                nonce,
                horizontal=False,
            ),
        }

    def engagement_cells(self) -> list[dict[str, Any]]:
        """The heat map's nine cells: position, count, its shade (share of the largest cell) and its words."""
        counts = dict(self.report.engagement_grid)
        largest = max(counts.values(), default=0) or 1
        cells = []
        for row, fan in enumerate(BANDS):
            for column, liking in enumerate(reversed(BANDS)):
                count = counts[f"{fan}/{liking}"]
                cells.append(
                    {
                        "cell": f"{fan}/{liking}",
                        "x": 90 + column * 110,
                        "y": 10 + row * 70,
                        "count": count,
                        "shade": round(0.08 + 0.82 * count / largest, 2),
                        "dark_text": count / largest < 0.55,
                        "label": f"{self._w('fan_band')} {self._w('band_' + fan)} \u00d7"
                        f" {self._w('liking_band')} {self._w('band_' + liking)}: {count:,}",
                    }
                )
        return cells


def _csv_response(table: Table, filename: str) -> HttpResponse:
    """UTF-8 with a byte-order mark, so Excel opens Japanese text as written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([cell.csv for cell in row])
    response = HttpResponse(("\ufeff" + buffer.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _words(request: HttpRequest) -> tuple[str, dict[str, str]]:
    from .texts import texts

    language = staff_language(request, getattr(request, "conveyor_staff", None))
    return language, texts(language, TEXTS)


def _open_work(request: HttpRequest, words: Mapping[str, str]) -> list[dict[str, Any]]:
    """The work queues' counts now (not cached with the figures), each linked to its page; only the queues this
    staff member may open."""
    identity = request.conveyor_staff  # type: ignore[attr-defined]
    counts = work_queues.open_work(identity.can, using=get_host().replica_alias())
    return [
        {"name": name, "label": words[f"open_{name}"], "count": counts[name], "url": console_url(request, page)}
        for name, _permission, page in work_queues.QUEUES
        if counts[name] is not None
    ]


@console_page(MANAGE_ORDERS)
def overview(request: HttpRequest) -> HttpResponse:
    """The shop's measures for a window and a channel, as charts with their tables and CSV links."""
    chosen, errors = read_filter(request)
    language, words = _words(request)
    context: dict[str, Any] = {
        "chosen": chosen,
        "errors": [words[key] for key in errors],
        "action": console_url(request, "overview"),
        "reset_url": console_url(request, "overview"),
        "hidden": _carried(request),
    }
    if errors:
        return render_console(request, "overview.html", context, words=TEXTS, status=400)
    now = timezone.now()
    fresh = request.GET.get("refresh") == "1"
    page, computing = _figures_for(chosen, words, language, now, fresh=fresh)
    if computing:
        reload_url = console_url(request, "overview", **chosen.query())  # without refresh=1: it asks once
        if fresh:  # the figures shown until the worker's are kept; reloading must not ask again
            return HttpResponseRedirect(reload_url, status=303)
        context.update({"reload_url": reload_url, "reload_seconds": RELOAD_SECONDS})
        if page.figures_missing():
            context["computing"] = words["figures_computing"]
            context["window_text"] = _window_text(chosen, words)
            context["open_work"] = _open_work(request, words)
            return render_console(request, "overview.html", context, words=TEXTS)
        context["updating"] = words["figures_updating"]
    nonce = secrets.token_urlsafe(16)  # the charts' <style> elements carry the page's nonce
    nps = page.report.nps
    context.update(
        {
            "page": page,
            "nps": nps,
            "streak": page.streak,
            "streak_text": words["streak"].format(months=page.streak),
            "stages": dict(page.report.stages),
            "campaign_aside": words["campaign_aside"].format(
                count=f"{dict(page.report.stages)[FanStage.CAMPAIGN_ONLY]:,}"
            ),
            "f2": _share(page.report.f2_conversion_rate),
            "repeat": _share(page.report.repeat_rate),
            "tables": {part: page.table(part) for part in PARTS},
            "csv_urls": {part: console_url(request, "overview-csv", part=part, **chosen.query()) for part in PARTS},
            "engagement_cells": page.engagement_cells(),
            "bands": [{"band": band, "y": 10 + index * 70} for index, band in enumerate(BANDS)],
            "columns": [{"band": band, "x": 90 + index * 110} for index, band in enumerate(reversed(BANDS))],
            "rule_help": words["rule_performance_help"].format(days=page.within_days),
            "window_text": _window_text(chosen, words),
            "charts": page.charts(nonce),
            "open_work": _open_work(request, words),
        }
    )
    page.figures.keep()
    if page.figures.seconds:
        as_of = page.figures.as_of.astimezone(ZoneInfo(page.window.zone))
        context["as_of"] = as_of.isoformat(timespec="seconds")
        context["as_of_text"] = words["figures_as_of"].format(
            time=as_of.strftime("%H:%M"), minutes=max(page.figures.seconds // 60, 1)
        )
        context["refresh_url"] = console_url(request, "overview", refresh="1", **chosen.query())
    return render_console(request, "overview.html", context, words=TEXTS, nonce=nonce)


def _figures_for(
    chosen: Filter, words: Mapping[str, str], language: str, now: datetime, *, fresh: bool
) -> tuple[Overview, bool]:
    """The page's figures, and whether a worker is computing them (then they are the ones kept before, or none).

    Kept and not asked to refresh: those. Otherwise a worker is asked (`ask_worker`); without one the figures
    are computed here, at once on a few connections, as they always were."""
    window = window_of(chosen, now)
    page = Overview(window, words, language, now, chosen)
    if not fresh and not page.figures_missing():
        return page, being_computed(page.figures.key, now)  # someone's refresh may be on its way
    answer = ask_worker(chosen, page.figures.key, now=now, fresh=fresh)
    if answer == "computing":
        return page, True
    page = Overview(window, words, language, now, chosen, fresh=fresh and answer == "here")
    page.compute_figures()  # nothing left to compute when the worker kept them
    return page, False


def warm_default_figures(now: datetime | None = None) -> None:
    """Compute and keep the default window's figures (all time, every channel), so staff opening the page never wait.

    Why: at 100,000 customers computing them takes seconds, and the default window is what staff and the
    Dashboard's entry page open first; the beat task `saleor_conveyor.warm_console` calls this before the
    kept ones expire. Kept figures are the numbers themselves, not words, so one language serves every page.
    """
    if conf.CONSOLE_CACHE_SECONDS:
        keep_figures(Filter(), now=now)


def keep_figures(chosen: Filter, *, now: datetime | None = None) -> str:
    """Compute every figure of the overview for `chosen` now and keep them (the worker's side of `ask_worker`);
    the key they are kept under."""
    from .texts import texts

    now = now or timezone.now()
    page = Overview(window_of(chosen, now), texts("en", TEXTS), "en", now, chosen, fresh=True)
    page.compute_figures()
    _ = page.streak
    for part in PARTS:  # what overview() reads, so a figure added to a table is kept too
        page.table(part)
    page.charts("warm")
    page.engagement_cells()
    page.figures.keep()
    return page.figures.key


# --- figures computed by a worker while the page answers at once ------------------------------------
# Why: at 100,000 customers a window's figures take seconds (docs/benchmarks.md), and a page that waits
# for them holds a web worker and its staff member that long. Where a Celery worker can be asked
# (CONVEYOR_DELIVERY["enqueue"], as for the outbox), a window whose figures are not kept, or a refresh,
# is handed to the task `saleor_conveyor.compute_console_figures`; the page answers at once (the figures
# kept before, marked as being updated, or a notice that they are being computed) and reloads itself
# every RELOAD_SECONDS until they are there. A worker that has not answered within WORKER_WAIT_SECONDS, a
# task that failed, a broker or cache that cannot be reached, a cache local to each process: the page
# computes them itself, as without a worker. One ask per window at a time (a flag in the cache: the time it
# was asked, then "done" or "failed"), however many staff open it.
WORKER_WAIT_SECONDS = 30
RELOAD_SECONDS = 2
_DONE, _FAILED = "done", "failed"


def _asked_key(figures_key: str) -> str:
    return figures_key.replace("conveyor:overview:", "conveyor:overview-asked:", 1)


def shares_its_cache() -> bool:
    """Whether what a worker keeps in Django's cache is seen by the web processes: not with a cache local to each
    process (locmem, Saleor's default without CACHE_URL) or none (dummy)."""
    from django.core.cache import DEFAULT_CACHE_ALIAS, caches
    from django.core.cache.backends.dummy import DummyCache
    from django.core.cache.backends.locmem import LocMemCache

    return not isinstance(caches[DEFAULT_CACHE_ALIAS], LocMemCache | DummyCache)


def being_computed(figures_key: str, now: datetime) -> bool:
    """Whether a worker was asked for these figures less than WORKER_WAIT_SECONDS ago and has not finished."""
    return _in_flight(_cached(lambda: cache.get(_asked_key(figures_key))), now)


def _in_flight(asked: Any, now: datetime) -> bool:
    """Whether an ask's flag (the time it was asked, "done", "failed", or none) is a worker still within its wait."""
    try:
        asked_at = float(asked)
    except (TypeError, ValueError):  # none, "done", "failed", or anything else: nothing on its way
        return False
    return now.timestamp() - asked_at <= WORKER_WAIT_SECONDS


def ask_worker(chosen: Filter, figures_key: str, *, now: datetime, fresh: bool = False) -> str:
    """Hand this window's figures to a worker: "computing" (asked now, or by someone a moment ago), "kept" (an
    eager worker has kept them already: read them), or "here" (no worker to ask, a cache the worker's figures
    would not reach, or the worker failed, is silent, or kept figures this page cannot read: the page computes
    them itself). A page reloading after the worker is done never asks again unless it is a refresh (`fresh`),
    so nothing asks for ever."""
    from ..delivery import COMPUTE_CONSOLE_FIGURES, delivery_settings

    if not delivery_settings().enqueue or not conf.CONSOLE_CACHE_SECONDS or not shares_its_cache():
        return "here"
    asked_key = _asked_key(figures_key)
    asked = _cached(lambda: cache.get(asked_key))
    if asked is not None:
        if _in_flight(asked, now):
            return "computing"
        _cached(lambda: cache.delete(asked_key))
        if not (asked == _DONE and fresh):  # failed, silent, or done and still missing here
            return "here"
    if not _cached(lambda: cache.add(asked_key, str(now.timestamp()), _flag_seconds())):
        return "computing" if being_computed(figures_key, now) else "here"  # someone asked a moment ago
    # The figures are stamped with this moment, the web's clock, so a worker's clock ahead of it cannot make
    # them look computed in the future (Figures drops those) and the page wait for them for ever.
    arguments = (str(chosen.since or ""), str(chosen.until or ""), chosen.channel or "", str(now.timestamp()))
    arguments += (figures_key,)  # the flag the worker marks is the one this page waits on
    try:
        task = get_host().celery_app().tasks[COMPUTE_CONSOLE_FIGURES]
        task.apply_async(arguments, retry=False, ignore_result=True)
    except Exception:
        logger.warning("the console could not ask a worker for its figures; computing them here", exc_info=True)
        _cached(lambda: cache.delete(asked_key))
        return "here"
    after = _cached(lambda: cache.get(asked_key))
    if after == _DONE:
        return "kept"  # Celery ran it eagerly, in this request
    if after in (None, _FAILED):  # ... and it failed (computed here, where its error shows), or the flag is gone
        _cached(lambda: cache.delete(asked_key))
        return "here"
    return "computing"


def compute_asked_figures(since: str, until: str, channel: str, asked_at: str = "", figures_key: str = "") -> None:
    """The task's work: keep the window's figures, as of the moment the page asked (`asked_at`, a timestamp;
    now if not given), then mark the page's ask (`figures_key`, else this window's key here) done, or failed
    so the pages compute them themselves."""
    try:
        day = date.fromisoformat
        chosen = Filter(day(since) if since else None, day(until) if until else None, channel or None)
        now = datetime.fromtimestamp(float(asked_at), tz=UTC) if asked_at else timezone.now()
        kept_under = keep_figures(chosen, now=now)
    except Exception:
        if figures_key:  # without it (a message of no page) nobody waits on a flag
            _cached(lambda: cache.set(_asked_key(figures_key), _FAILED, _flag_seconds()))
        raise
    _cached(lambda: cache.set(_asked_key(figures_key or kept_under), _DONE, _flag_seconds()))


def _flag_seconds() -> int:
    """How long an ask's flag lives: no longer than the figures it is about, but the whole wait for the worker."""
    return max(WORKER_WAIT_SECONDS + 1, min(WORKER_WAIT_SECONDS * 4, conf.CONSOLE_CACHE_SECONDS))


def _window_text(chosen: Filter, words: Mapping[str, str]) -> str:
    if not chosen.since and not chosen.until:
        return words["window_all"]
    return words["window"].format(since=chosen.since or words["from_start"], until=chosen.until or words["to_now"])


def _carried(request: HttpRequest) -> dict[str, str]:
    """What the GET form must carry besides its own fields: the Dashboard session and the chosen language."""
    from . import auth

    carried = {}
    identity = getattr(request, "conveyor_staff", None)
    if identity is not None and identity.via == auth.VIA_DASHBOARD:
        carried[auth.SESSION_PARAM] = identity.session
    if request.GET.get("lang", "")[:2] in ("ja", "en"):
        carried["lang"] = request.GET["lang"][:2]
    return carried


@console_page(MANAGE_ORDERS)
def overview_csv(request: HttpRequest) -> HttpResponse:
    """One part's numbers as CSV for Excel: the same Table the page shows."""
    part = request.GET.get("part", "")
    chosen, errors = read_filter(request)
    language, words = _words(request)
    if part not in PARTS or errors:
        response = HttpResponse(
            (words["bad_date"] if errors else "Unknown part.").encode(),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response
    now = timezone.now()
    page = Overview(window_of(chosen, now), words, language, now, chosen)
    table = page.table(part)
    page.figures.keep()
    suffix = "-".join(value.replace("-", "") for value in chosen.query().values())
    return _csv_response(table, f"conveyor-{part.replace('_', '-')}{'-' + suffix if suffix else ''}.csv")


NAVIGATION.append(("overview", "nav_overview"))
