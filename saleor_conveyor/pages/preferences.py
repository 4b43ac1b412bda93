"""The mail preferences page (`preferences/`), what the unsubscribe link in every marketing mail's body opens:
whether the customer receives marketing mail, with a button to stop it or to start it again.

A GET only shows (link scanners open every link); a POST with the page's CSRF token changes the consent
through the service (`conveyor.unsubscribe` / `conveyor.resubscribe`), which records the change. The
mailbox providers' one-click unsubscribe (RFC 8058) stays the plain endpoint `unsubscribe/` (views.py).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from .. import conveyor, tokens
from ..hosts import get_config
from ..models import ConsentSource, FanProfile
from . import base

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "title": "メール配信の設定",
        "address": "メールアドレス",
        "subscribed": "お知らせ・キャンペーンのメールをお送りしています。",
        "unsubscribed": "{since}から、お知らせ・キャンペーンのメールを停止しています。",
        "service_note": (
            "どちらの場合も、ご注文・発送のご連絡、お問い合わせへのご返信など、"
            "お取引に必要なメールは引き続きお届けします。"
        ),
        "unsubscribe": "お知らせメールを停止する",
        "resubscribe": "お知らせメールの受け取りを再開する",
        "resubscribe_note": "停止中にお送りしなかったメールを、再開後にまとめてお送りすることはありません。",
        "done_unsubscribed": "配信を停止しました。今後、お知らせ・キャンペーンのメールはお送りしません。",
        "done_resubscribed": "配信を再開しました。またお知らせをお届けします。",
    },
    "en": {
        "title": "Email preferences",
        "address": "Email address",
        "subscribed": "You receive our news and offers by email.",
        "unsubscribed": "You do not receive our news and offers by email (stopped on {since}).",
        "service_note": (
            "Either way, emails about your orders and deliveries, replies to your questions and other "
            "messages you need still come."
        ),
        "unsubscribe": "Stop news and offers",
        "resubscribe": "Receive news and offers again",
        "resubscribe_note": "Emails we held back while you were unsubscribed are not sent late.",
        "done_unsubscribed": "Done: we will not send you news and offers any more.",
        "done_resubscribed": "Done: you will receive our news and offers again.",
    },
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)  # not strftime's %B: that follows the server's locale
ACTIONS = {"unsubscribe": conveyor.unsubscribe, "resubscribe": conveyor.resubscribe}


@base.customer_page
def preferences_page(request: HttpRequest) -> HttpResponse:
    """Show the customer's marketing-mail consent; a POST changes it (a repeat is a no-op), then shows it again."""
    profile = base.read_link(request, tokens.UNSUBSCRIBE)
    language = base.page_language(request, profile)
    token = request.POST.get("token") if request.method == "POST" else request.GET.get("token")
    if request.method == "POST":
        action = request.POST.get("action")
        if action not in ACTIONS:
            return base.refusal_page(request, "bad_input", language=language, status=400)
        ACTIONS[action](profile.pk, source=ConsentSource.PREFERENCES_PAGE)
        done = "unsubscribed" if action == "unsubscribe" else "resubscribed"
        response = HttpResponseRedirect(
            base.page_url(request, "preferences", token=token, lang=language, done=done), status=303
        )
        response["Cache-Control"] = "no-store"
        return response
    subscribed = profile.unsubscribed_at is None
    done = request.GET.get("done")
    # The note after a change, only while it is still true (the query string is the customer's to edit).
    done = done if (done, subscribed) in {("unsubscribed", False), ("resubscribed", True)} else None
    words = {**TEXTS["en"], **TEXTS.get(language, {})}
    context = {
        "email": profile.email,
        "subscribed": subscribed,
        "status": words["subscribed"] if subscribed else words["unsubscribed"].format(since=_since(profile, language)),
        "done": done,
        "token": token,
        "form_action": base.page_url(request, "preferences"),
    }
    return base.render_page(request, "preferences.html", context, language=language, words=TEXTS)


def _since(profile: FanProfile, language: str) -> str:
    """The day the customer opted out, in the shop's time zone and the page's language."""
    at: datetime = profile.unsubscribed_at  # type: ignore[assignment]
    day = at.astimezone(ZoneInfo(get_config().time_zone))
    if language == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
