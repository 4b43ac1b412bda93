"""Customers (MANAGE_USERS): the searchable, filtered list and one customer's timeline.

Both read through `saleor_conveyor.timeline`, the functions behind `fanProfiles` and `FanProfile.timeline`,
so the page and the API cannot disagree. The list is 50 a page: one query for the page, one for the count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .. import timeline as timelines
from ..engine import FanStage, NpsCategory, engagement_class, is_lapsed
from ..engine.surveys import ENGAGEMENT_CELLS
from ..errors import ConveyorError
from ..hosts import MANAGE_USERS, get_config, get_host
from ..models import FanProfile
from ..pages import base as pages
from . import views
from .views import console_page, console_url, render_console

PAGE_SIZE = 50
PAGE_MAX = 1_000_000
TIMELINE_SHOWN = 200

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "customers": "顧客",
        "customers_title": "顧客一覧",
        "search": "メールアドレスか名前で検索",
        "search_button": "絞り込む",
        "clear": "条件を外す",
        "stage": "段階",
        "segment": "エンゲージメント",
        "lapsed": "休眠",
        "nps_category": "NPS 区分",
        "any": "すべて",
        "yes": "休眠のみ",
        "no": "休眠以外",
        "email": "メールアドレス",
        "name": "名前",
        "ltv": "LTV",
        "last_purchase": "最終購入",
        "purchases": "購入回数",
        "nps": "NPS",
        "none": "—",
        "found": "{count} 人",
        "found_one": "{count} 人",
        "nothing_found": "条件に合う顧客はいません。",
        "previous": "前へ",
        "next": "次へ",
        "page": "{page} / {pages} ページ",
        "bad_search": "検索語が長すぎるか、読めない文字を含んでいます。",
        "timeline": "タイムライン",
        "back": "顧客一覧へ",
        "no_timeline": "まだ記録はありません。",
        "no_customer": "この顧客は見つかりません。",
        "profile": "プロフィール",
        "fan_degree": "ファン度",
        "liking": "好感度",
        "badges": "バッジ",
        "guest": "ゲスト購入",
        "lapsed_yes": "休眠中",
        "kind_ORDER": "注文",
        "kind_TOUCHPOINT": "タッチポイント",
        "kind_NPS": "NPS 回答",
        "kind_FAN_SURVEY": "ファン度調査",
        "kind_WINBACK": "アンケート回答",
        "kind_RETURN": "返品依頼",
        "kind_INQUIRY": "問い合わせ",
        "stage_FIRST_TIME": "初回購入",
        "stage_SECOND_TIME": "2回目購入",
        "stage_CAMPAIGN_ONLY": "キャンペーンのみ",
        "stage_LOYAL": "ロイヤル",
        "cat_PROMOTER": "推奨者",
        "cat_PASSIVE": "中立者",
        "cat_DETRACTOR": "批判者",
        "class_CORE": "コア",
        "class_GROWING": "成長",
        "class_COOL": "低関心",
    },
    "en": {
        "customers": "Customers",
        "customers_title": "Customers",
        "search": "Search by email address or name",
        "search_button": "Filter",
        "clear": "Clear the filters",
        "stage": "Stage",
        "segment": "Engagement",
        "lapsed": "Lapsed",
        "nps_category": "NPS category",
        "any": "Any",
        "yes": "Lapsed only",
        "no": "Not lapsed",
        "email": "Email address",
        "name": "Name",
        "ltv": "LTV",
        "last_purchase": "Last purchase",
        "purchases": "Purchases",
        "nps": "NPS",
        "none": "—",
        "found": "{count} customers",
        "found_one": "{count} customer",
        "nothing_found": "No customer matches.",
        "previous": "Previous",
        "next": "Next",
        "page": "Page {page} of {pages}",
        "bad_search": "The search is too long or holds characters that cannot be read.",
        "timeline": "Timeline",
        "back": "Back to customers",
        "no_timeline": "Nothing recorded yet.",
        "no_customer": "There is no such customer.",
        "profile": "Profile",
        "fan_degree": "Fan degree",
        "liking": "Liking",
        "badges": "Badges",
        "guest": "Guest checkout",
        "lapsed_yes": "Lapsed",
        "kind_ORDER": "Order",
        "kind_TOUCHPOINT": "Touchpoint",
        "kind_NPS": "NPS answer",
        "kind_FAN_SURVEY": "Fan survey",
        "kind_WINBACK": "Survey answer",
        "kind_RETURN": "Return request",
        "kind_INQUIRY": "Inquiry",
        "stage_FIRST_TIME": "First-time",
        "stage_SECOND_TIME": "Second-time",
        "stage_CAMPAIGN_ONLY": "Campaign-only",
        "stage_LOYAL": "Loyal",
        "cat_PROMOTER": "Promoter",
        "cat_PASSIVE": "Passive",
        "cat_DETRACTOR": "Detractor",
        "class_CORE": "Core",
        "class_GROWING": "Growing",
        "class_COOL": "Cool",
    },
}

views.NAVIGATION.append(("customers", "customers"))


def customer_url(request: HttpRequest, profile_id: int) -> str:
    """A customer's page (`customers/<id>/`), carrying the session and language as console_url does."""
    listed, _, query = console_url(request, "customers").partition("?")
    return f"{listed}{profile_id}/{'?' + query if query else ''}"


def _choice(value: str | None, allowed: Any) -> str | None:
    return value if value in allowed else None


def _filter_from(request: HttpRequest) -> timelines.CustomerFilter:
    """The list's filter from the query; a value that is not one of the choices is no filter."""
    lapsed = {"yes": True, "no": False}.get(request.GET.get("lapsed", ""))
    return timelines.CustomerFilter(
        stage=_choice(request.GET.get("stage"), FanStage.__members__),
        segment=_choice(request.GET.get("segment"), ENGAGEMENT_CELLS),
        lapsed=lapsed,
        nps_category=_choice(request.GET.get("nps"), NpsCategory.__members__),
        search=request.GET.get("q", "").strip() or None,
    )


def found_text(words: Mapping[str, str], total: int) -> str:
    """ "1 task" / "3 tasks": the word `found_one` for one where the page has it, else `found`."""
    return words["found_one" if total == 1 and "found_one" in words else "found"].format(count=f"{total:,}")


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return min(int(raw), PAGE_MAX) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 8 and int(raw) > 0 else 1


def profile_row(profile: FanProfile, words: dict[str, str], *, now: Any, lapse_days: int) -> dict[str, Any]:
    """What the list, a customer's page and the customer widget show of a profile, in the staff's words."""
    cell = profile.segment or ""
    return {
        "profile": profile,
        "stage": words.get(f"stage_{profile.stage}", "") if profile.stage else "",
        "segment": cell,
        "engagement": words.get(f"class_{engagement_class(cell)}", "") if cell else "",
        "nps_category": words.get(f"cat_{profile.nps_category}", "") if profile.nps_category else "",
        "ltv": _money(profile.lifetime_value_amount, profile.currency),
        "lapsed": is_lapsed(profile.last_purchase_at, now, lapse_days),
    }


def _money(amount: Any, currency: str) -> str:
    if amount is None or not currency:
        return ""
    return f"¥{amount:,.0f}" if currency == "JPY" else f"{amount:,.2f} {currency}"


def _bad_search(request: HttpRequest, words: dict[str, str]) -> HttpResponse:
    context = {"reason": "bad_input", "heading": words["customers_title"], "message": words["bad_search"]}
    return render_console(request, "notice.html", context, words=TEXTS, status=400)


@console_page(MANAGE_USERS)
def customer_list(request: HttpRequest) -> HttpResponse:
    """Staff find a customer: search, stage, engagement cell, lapsed, NPS category; 50 a page."""
    words = views.texts(views.staff_language(request, request.conveyor_staff), TEXTS)  # type: ignore[attr-defined]
    if pages._unreadable(request.GET):
        return _bad_search(request, words)
    found = _filter_from(request)
    now, lapse_days = timezone.now(), get_config().lapse_days
    try:
        rows = timelines.customer_list(found, now=now, lapse_days=lapse_days, using=get_host().replica_alias())
    except ConveyorError:
        return _bad_search(request, words)
    number = _page_number(request)
    offset = (number - 1) * PAGE_SIZE
    listed = list(rows[offset : offset + PAGE_SIZE + 1])
    has_next = len(listed) > PAGE_SIZE
    listed = listed[:PAGE_SIZE]
    total = rows.count()  # always: the page's query count does not depend on the shop's size
    query = {
        "q": found.search,
        "stage": found.stage,
        "segment": found.segment,
        "lapsed": {True: "yes", False: "no"}.get(found.lapsed) if found.lapsed is not None else None,
        "nps": found.nps_category,
    }
    pages_count = max(1, -(-total // PAGE_SIZE))
    context = {
        "rows": [
            {
                **profile_row(profile, words, now=now, lapse_days=lapse_days),
                "url": customer_url(request, profile.pk),
            }
            for profile in listed
        ],
        "filter": query,
        "stages": [(stage.value, words[f"stage_{stage.value}"]) for stage in FanStage],
        "cells": ENGAGEMENT_CELLS,
        "categories": [(category.value, words[f"cat_{category.value}"]) for category in NpsCategory],
        "found_text": found_text(words, total),
        "page_text": words["page"].format(page=number, pages=pages_count),
        "previous_url": console_url(request, "customers", page=number - 1, **query) if number > 1 else None,
        "next_url": console_url(request, "customers", page=number + 1, **query) if has_next else None,
        "clear_url": console_url(request, "customers"),
        "action": console_url(request, "customers"),
        "lang_param": request.GET.get("lang") if request.GET.get("lang") in ("ja", "en") else None,
    }
    return render_console(request, "customers.html", context, words=TEXTS)


@console_page(MANAGE_USERS)
def customer_page(request: HttpRequest, profile_id: int) -> HttpResponse:
    """One customer: their profile and timeline (orders, touchpoints, answers, returns, inquiries), newest first."""
    using = get_host().replica_alias()
    profile = FanProfile.objects.using(using).filter(pk=profile_id).first() if profile_id < 2**63 else None
    words = views.texts(views.staff_language(request, request.conveyor_staff), TEXTS)  # type: ignore[attr-defined]
    if profile is None:
        context = {"reason": "not_found", "heading": words["no_customer"], "message": words["back"]}
        return render_console(request, "notice.html", context, words=TEXTS, status=404)
    entries = timelines.timeline(profile, TIMELINE_SHOWN)
    context = {
        "row": profile_row(profile, words, now=timezone.now(), lapse_days=get_config().lapse_days),
        "entries": [{"entry": entry, "kind": words.get(f"kind_{entry.kind}", entry.kind)} for entry in entries],
        "back_url": console_url(request, "customers"),
    }
    return render_console(request, "customer.html", context, words=TEXTS)
