"""The Dashboard's widgets: a customer's, an order's and the home page's conveyor, ~400px wide.

The manifest declares them in POST mode: the Dashboard submits a form into the widget's iframe with the
fields `accessToken`, `appId` and `saleorApiUrl`, and `customerId` / `orderId` in the query (Saleor global
ids, `base64("User:<pk>")`, `base64("Order:<uuid>")`; raw ids are taken too). There is no cookie in that
iframe (another site's) and no CSRF token the Dashboard could send, so the check against cross-site forgery
is the accessToken itself: on every POST it goes to `host.staff_from_app_token`, and only a token Saleor
signed for this app and a staff user opens the widget; a form another site posts has no such token. The
widgets only read. A GET (a console session in `s`, the console cookie, the host's session) shows the same.

Every figure comes from the functions the API uses: `stats.StatsReport` (conveyorStats), `timeline`
(fanProfiles), the profile's own columns (fanProfile), `work_queues.open_work`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from graphql_relay import from_global_id

from .. import work_queues
from ..events import host_id_problem
from ..hosts import MANAGE_ORDERS, MANAGE_USERS, get_config, get_host
from ..models import (
    FanProfile,
    NpsResponse,
    Purchase,
    ReturnRequest,
    Touchpoint,
    TouchpointStatus,
)
from ..stats import StatsReport, StatsWindow
from . import auth, views
from .customers import TEXTS as CUSTOMER_TEXTS
from .customers import customer_url, profile_row
from .views import render_console

NEXT_TOUCHPOINTS = 3

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        **CUSTOMER_TEXTS["ja"],
        "widget_customer": "ファン・コンベヤー",
        "widget_order": "この注文のコンベヤー",
        "widget_home": "ファン・コンベヤー(今月)",
        "next_touchpoints": "次のタッチポイント",
        "no_touchpoints": "予定はありません。",
        "open_timeline": "タイムラインを開く",
        "not_on_conveyor": "この顧客はまだコンベヤーに乗っていません(購入がありません)。",
        "order_unknown": "この注文はコンベヤーに記録されていません。",
        "touchpoints": "タッチポイント",
        "nps_answer": "NPS 回答",
        "no_answer": "回答はまだありません。",
        "returns": "返品依頼",
        "no_returns": "返品依頼はありません。",
        "nps_month": "今月の NPS",
        "f2": "F2 転換率",
        "repeat": "リピート率",
        "streak": "改善の連続月数",
        "open_work": "未対応の仕事",
        "staff_tasks": "スタッフタスク",
        "open_inquiries": "問い合わせ",
        "open_follow_ups": "フォローアップ",
        "requested_returns": "返品依頼",
        "widget_refused_token": (
            "ダッシュボードからのトークンがないか、期限切れか、このアプリのものではないか、スタッフのものではありません。"
            "ページを再読み込みしてください。"
        ),
        "widget_refused_sign_in": "このウィジェットは Saleor のダッシュボードの中で開きます。",
        "widget_refused_permission": "必要な権限: {permission}",
        "widget_refused_title": "表示できません",
        "widget_bad_id": "この ID は読めません。",
    },
    "en": {
        **CUSTOMER_TEXTS["en"],
        "widget_customer": "Fan Conveyor",
        "widget_order": "This order on the conveyor",
        "widget_home": "Fan Conveyor this month",
        "next_touchpoints": "Next touchpoints",
        "no_touchpoints": "Nothing scheduled.",
        "open_timeline": "Open the timeline",
        "not_on_conveyor": "This customer is not on the conveyor yet (no purchase).",
        "order_unknown": "The conveyor has no record of this order.",
        "touchpoints": "Touchpoints",
        "nps_answer": "NPS answer",
        "no_answer": "No answer yet.",
        "returns": "Return requests",
        "no_returns": "No return requests.",
        "nps_month": "NPS this month",
        "f2": "F2 conversion",
        "repeat": "Repeat rate",
        "streak": "Months improving",
        "open_work": "Open work",
        "staff_tasks": "Staff tasks",
        "open_inquiries": "Inquiries",
        "open_follow_ups": "Follow-ups",
        "requested_returns": "Returns asked",
        "widget_refused_token": (
            "The Dashboard's token is missing, expired, not for this app, or not a staff member's. Reload the page."
        ),
        "widget_refused_sign_in": "This widget opens inside Saleor's Dashboard.",
        "widget_refused_permission": "It needs the {permission} permission.",
        "widget_refused_title": "Not shown",
        "widget_bad_id": "This id cannot be read.",
    },
}


def _words(request: HttpRequest, identity: auth.StaffIdentity | None) -> dict[str, str]:
    return views.texts(views.staff_language(request, identity), TEXTS)


def _refused(request: HttpRequest, reason: str, status: int, permission: str = "") -> HttpResponse:
    words = _words(request, getattr(request, "conveyor_staff", None))
    message = words[f"widget_refused_{reason}"].format(permission=permission)
    context = {"reason": reason, "message": message}
    return render_console(request, "widget_refused.html", context, words=TEXTS, status=status)


def widget(permission: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A widget: a POST needs the Dashboard's accessToken (checked each time), a GET a console identity."""

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt  # the accessToken is the forgery check (module docstring); no middleware runs here anyway
        @functools.wraps(view)
        def page(request: HttpRequest) -> HttpResponse:
            if request.method == "POST":
                identity = auth.identity_from_app_token(request.POST.get("accessToken"))
                if identity is None:
                    return _refused(request, "token", 401)
            elif request.method in ("GET", "HEAD"):
                identity = auth.identity_from_request(request)
                if identity is None:
                    return _refused(request, "sign_in", 401)
            else:
                return HttpResponse(status=405, headers={"Allow": "GET, POST"})
            if not identity.can(permission):
                request.conveyor_staff = identity  # type: ignore[attr-defined]
                return _refused(request, "permission", 403, permission)
            request.conveyor_staff = identity  # type: ignore[attr-defined]
            return view(request, _words(request, identity))

        return page

    return wrap


def _raw_id(value: str, type_name: str) -> str | None:
    """The host's id in a Saleor global id of this type, or a raw id as it is; None when it is neither."""
    value = (value or "").strip()
    if not value or len(value) > 200:
        return None
    try:
        found_type, raw = from_global_id(value)
    except Exception:
        found_type, raw = None, ""
    if found_type == type_name and raw:
        value = raw
    return None if host_id_problem(value) else value


def _user_pk(value: str) -> int | None:
    raw = _raw_id(value, "User")
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    return int(raw)


@widget(MANAGE_USERS)
def customer_widget(request: HttpRequest, words: dict[str, str]) -> HttpResponse:
    """The customer page's widget: stage, NPS, engagement cell, LTV, next touchpoints, a link to the timeline."""
    user_pk = _user_pk(request.GET.get("customerId", ""))
    if user_pk is None:
        return render_console(request, "widget_customer.html", {"bad_id": True}, words=TEXTS, status=400)
    using = get_host().replica_alias()
    profile = FanProfile.objects.using(using).filter(user_id=user_pk).first()
    context: dict[str, Any] = {"profile": profile}
    if profile is not None:
        now = timezone.now()
        upcoming = (
            Touchpoint.objects.using(using)
            .filter(profile=profile, status__in=(TouchpointStatus.SCHEDULED, TouchpointStatus.SENDING))
            .order_by("due_at", "id")[:NEXT_TOUCHPOINTS]
        )
        context.update(
            row=profile_row(profile, words, now=now, lapse_days=get_config().lapse_days),
            upcoming=list(upcoming),
            timeline_url=customer_url(request, profile.pk),
        )
    return render_console(request, "widget_customer.html", context, words=TEXTS)


@widget(MANAGE_ORDERS)
def order_widget(request: HttpRequest, words: dict[str, str]) -> HttpResponse:
    """The order page's widget: the order's touchpoints, its NPS answer, its return requests."""
    order_id = _raw_id(request.GET.get("orderId", ""), "Order")
    if order_id is None:
        return render_console(request, "widget_order.html", {"bad_id": True}, words=TEXTS, status=400)
    using = get_host().replica_alias()
    purchase = Purchase.objects.using(using).filter(order_id=order_id).select_related("profile").first()
    context: dict[str, Any] = {"purchase": purchase}
    if purchase is not None:
        context.update(
            touchpoints=list(
                Touchpoint.objects.using(using)
                .filter(profile_id=purchase.profile_id, order_id=order_id)
                .order_by("due_at", "id")
            ),
            answer=NpsResponse.objects.using(using).filter(profile_id=purchase.profile_id, order_id=order_id).first(),
            returns=list(ReturnRequest.objects.using(using).filter(purchase=purchase).order_by("-created_at")),
        )
    return render_console(request, "widget_order.html", context, words=TEXTS)


def _percent(rate: float | None) -> str | None:
    return None if rate is None else f"{rate * 100:.0f}%"


def this_month(now: datetime, zone: str, using: str) -> StatsWindow:
    """This month so far, in the shop's days: the window of conveyorStats(since: <the 1st>)."""
    first = timezone.localtime(now, timezone=get_config().zone).date().replace(day=1)
    return StatsWindow.from_dates(first, None, None, zone=zone, now=now, using=using)


@widget(MANAGE_ORDERS)
def home_widget(request: HttpRequest, words: dict[str, str]) -> HttpResponse:
    """The home page's widget: this month's NPS, F2 conversion and repeat rate, the improving streak, open work."""
    identity: auth.StaffIdentity = request.conveyor_staff  # type: ignore[attr-defined]
    now, using, zone = timezone.now(), get_host().replica_alias(), get_config().time_zone
    month = StatsReport(this_month(now, zone, using))
    # The streak of conveyorStats without dates (its default twelve months), as the overview shows it.
    streak = StatsReport(StatsWindow.from_dates(None, None, None, zone=zone, now=now, using=using)).monthly.streak(
        "nps"
    )
    context = {
        "nps": month.nps.score,
        "responses": month.nps.responses,
        "f2": _percent(month.f2_conversion_rate),
        "repeat": _percent(month.repeat_rate),
        "streak": streak,
        **{f"open_{name}": count for name, count in work_queues.open_work(identity.can, using=using).items()},
    }
    return render_console(request, "widget_home.html", context, words=TEXTS)
