"""The shop's contact form, as a page (`inquiry/`) and as a version a storefront frames (`inquiry/embed/`).

Both send through `conveyor.submit_inquiry`, the service the `submitInquiry` mutation calls, with the same
throttles (per email and per client address, `host.client_address`) and errors; the shop's privacy note
(`config.privacy_note`) stands under the form; a sent form shows a thank-you state (after a redirect, so a
reload sends nothing twice).

CSRF. The full page is a `@customer_page`: Django's cookie-based check. That check cannot work in the
embeddable form: framed by a storefront on another site, the page is a third-party context, and browsers
(Chrome, Safari, Firefox) do not store or send its cookies, so there is no CSRF cookie to match. The embed
checks instead, on every POST, before anything is read or written:

1. a form token in a hidden field: signed with SECRET_KEY under this form's own salt and timestamped
   (`FORM_TOKEN_MAX_AGE`), made when the form was rendered. A POST without one, or with a forged one, is
   refused (403, the pages' clear refusal, nothing written); an expired one re-shows the form with what was
   typed and a fresh token. The token is not tied to a session (there is none in the frame), so on its own it
   only proves the form came from this server; the next check is what stops another site;
2. the browser's own word on where the POST comes from: `Sec-Fetch-Site` must be `same-origin` when sent
   (the form inside the frame posts to its own origin, whatever site frames it, so a storefront's frame passes
   and a form on another site does not), and `Origin`, when sent, must name this host (`null`, sent by
   sandboxed frames and privacy redirects, is refused). A forged cross-site POST from any current browser
   carries both headers naming the other site, so it is refused even with a token its author fetched.

Old browsers that send neither header fall back to the token alone, the same as a form without a session.
"""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from .. import conveyor
from ..errors import ConveyorError, ErrorCode
from ..events import EMAIL_MAX, HOST_ID_MAX, INQUIRY_MESSAGE_MAX, NAME_MAX, InquirySubmitted
from ..hosts import get_host
from ..models import FanProfile, InquiryTopic
from . import base
from .texts import texts

FORM_TOKEN_FIELD = "form_token"
FORM_TOKEN_SALT = "saleor_conveyor.pages.inquiry.form"
FORM_TOKEN_MAX_AGE = timedelta(hours=6)  # long enough to write a message; an older form is re-shown, not lost

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "title": "お問い合わせ",
        "intro": "ご質問やご相談をお送りください。内容を確認し、メールでお返事します。",
        "email": "メールアドレス",
        "name": "お名前",
        "order": "ご注文番号",
        "order_hint": "ご注文についてのお問い合わせの場合にご記入ください。",
        "topic": "お問い合わせの種類",
        "topic_PRODUCT": "商品について",
        "topic_ORDER": "ご注文について",
        "topic_SHIPPING": "配送について",
        "topic_RETURN": "返品・交換について",
        "topic_OTHER": "その他",
        "message": "お問い合わせ内容",
        "message_hint": "5,000文字まで。",
        "submit": "送信する",
        "privacy": "個人情報の取り扱い",
        "thanks_title": "お問い合わせありがとうございます",
        "thanks_body": "内容を受け付けました。担当者が確認し、ご入力のメールアドレスにお返事します。",
        "send_another": "別のお問い合わせを送る",
        "error_email": "メールアドレスを正しく入力してください。",
        "error_name": "お名前は改行を含まない256文字以内でご記入ください。",
        "error_order": "ご注文番号は空白を含まない64文字以内でご記入ください。",
        "error_topic": "お問い合わせの種類をお選びください。",
        "error_message": "お問い合わせ内容をご記入ください。",
        "error_message_too_long": "お問い合わせ内容は5,000文字以内でご記入ください。",
        "error_throttled": (
            "短い時間に多くのお問い合わせをいただいたため、いまは受け付けられません。"
            "1時間ほどおいて、もう一度お試しください。入力内容は保存していません。"
        ),
        "error_form_expired": "フォームを開いてから時間が経ちました。内容を確かめて、もう一度送信してください。",
    },
    "en": {
        "title": "Contact us",
        "intro": "Send us your question. We will read it and answer by email.",
        "email": "Email address",
        "name": "Name",
        "order": "Order number",
        "order_hint": "If your message is about an order.",
        "topic": "What is it about?",
        "topic_PRODUCT": "A product",
        "topic_ORDER": "An order",
        "topic_SHIPPING": "Shipping",
        "topic_RETURN": "A return or exchange",
        "topic_OTHER": "Something else",
        "message": "Your message",
        "message_hint": "Up to 5,000 characters.",
        "submit": "Send",
        "privacy": "How we handle your information",
        "thanks_title": "Thank you for your message",
        "thanks_body": "We have it. Someone from the shop will read it and answer at the email address you gave.",
        "send_another": "Send another message",
        "error_email": "Enter a valid email address.",
        "error_name": "Write your name on one line, in at most 256 characters.",
        "error_order": "Write the order number without spaces, in at most 64 characters.",
        "error_topic": "Choose what your message is about.",
        "error_message": "Write your message.",
        "error_message_too_long": "Please keep your message to 5,000 characters.",
        "error_throttled": "We have received many messages from you in a short time, so we cannot take this one now. "
        "Please try again in about an hour. Nothing was saved.",
        "error_form_expired": "The form was open for a long time. Please check it and send it again.",
    },
}

# The service's error fields (its own, and the API's spelling) -> this form's fields.
_FIELDS = {"email": "email", "name": "name", "order_id": "order", "orderId": "order", "topic": "topic"}


def make_form_token() -> str:
    """A signed, timestamped token that this server rendered the contact form (the embed's CSRF token)."""
    return signing.dumps({"f": "inquiry", "n": secrets.token_urlsafe(8)}, salt=FORM_TOKEN_SALT, compress=False)


def form_token_state(value: object) -> str:
    """'ok', 'expired' (signed by us, too old) or 'refused' (missing, forged, another form's)."""
    if not isinstance(value, str) or not value or len(value) > 200:
        return "refused"
    try:
        data = signing.loads(value, salt=FORM_TOKEN_SALT, max_age=FORM_TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        return "expired"
    except (signing.BadSignature, ValueError):
        return "refused"
    return "ok" if isinstance(data, dict) and data.get("f") == "inquiry" else "refused"


def from_this_site(request: HttpRequest) -> bool:
    """Whether the browser says the POST comes from this origin (Sec-Fetch-Site, Origin); True when it says nothing."""
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return True
    if origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()):
        return True
    try:
        host = request.get_host()
    except DisallowedHost:
        return False
    # The host, not the scheme: behind a TLS proxy Django may see http while the browser says https.
    return origin != "null" and urlsplit(origin).netloc.lower() == host.lower()


def embeddable_page(view: base.PageView) -> base.PageView:
    """`customer_page` with the form token and the browser's origin headers in place of Django's cookie check."""
    checked = base.customer_page(view)

    @functools.wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        setattr(request, base.EMBEDDABLE_ATTRIBUTE, True)
        if request.method == "POST":
            if not from_this_site(request) or form_token_state(request.POST.get(FORM_TOKEN_FIELD)) == "refused":
                return base.refusal_page(request, "csrf", language=base.page_language(request), status=403)
            request._dont_enforce_csrf_checks = True  # checked above; Django's CsrfViewMiddleware honours this flag
        return checked(request, *args, **kwargs)

    return page


def _send(inquiry: InquirySubmitted) -> None:
    """The submitInquiry mutation's own service call."""
    conveyor.submit_inquiry(inquiry)


def _topics(words: dict[str, str]) -> list[tuple[str, str]]:
    return [(topic, words[f"topic_{topic}"]) for topic in InquiryTopic.values]


def _error_words(error: ConveyorError, words: dict[str, str]) -> dict[str, str]:
    """A refused inquiry's error beside its field, in the page's language (English message where unmapped)."""
    if error.code is ErrorCode.THROTTLED:
        return {"form": words["error_throttled"]}
    if error.field == "message":
        key = "error_message_too_long" if error.code is ErrorCode.OUT_OF_RANGE else "error_message"
        return {"message": words[key]}
    form_field = _FIELDS.get(error.field or "")
    if form_field:
        return {form_field: words[f"error_{form_field}"]}
    return {"form": error.message}


def _inquiry(request: HttpRequest, *, embedded: bool) -> HttpResponse:
    user = get_host().user_from_request(request)
    profile = FanProfile.objects.filter(user_id=user.pk).first() if user is not None else None
    language = base.page_language(request, profile)
    words = texts(language, TEXTS)
    name = "inquiry-embed" if embedded else "inquiry"
    source = request.POST if request.method == "POST" else request.GET
    topic = source.get("topic", "")
    values = {
        "email": source.get("email", "") or (getattr(user, "email", "") if user is not None else ""),
        "name": source.get("name", "") or (profile.first_name if profile is not None else ""),
        "order": source.get("order", ""),
        "topic": topic if topic in InquiryTopic.values else "",
        "message": source.get("message", "") if request.method == "POST" else "",
    }
    context: dict[str, Any] = {
        "embedded": embedded,
        "values": values,
        "errors": {},
        "topics": _topics(words),
        "action": base.page_url(request, name, lang=language),
        "sent": request.method == "GET" and request.GET.get("sent") == "1",
        "again_url": base.page_url(request, name, lang=language),
        "limits": {"email": EMAIL_MAX, "name": NAME_MAX, "order": HOST_ID_MAX, "message": INQUIRY_MESSAGE_MAX},
    }
    if request.method == "POST":
        if embedded and form_token_state(request.POST.get(FORM_TOKEN_FIELD)) == "expired":
            context["errors"] = {"form": words["error_form_expired"]}
            return _render(request, context, language, embedded, status=400)
        inquiry = InquirySubmitted(
            email=values["email"],
            topic=topic,
            message=values["message"],
            name=values["name"],
            order_id=values["order"].strip() or None,
            client_address=get_host().client_address(request),
            user_id=user.pk if user is not None else None,
        )
        try:
            _send(inquiry)
        except ConveyorError as error:
            context["errors"] = _error_words(error, words)
            status = 429 if error.code is ErrorCode.THROTTLED else 400
            return _render(request, context, language, embedded, status=status)
        done = HttpResponseRedirect(base.page_url(request, name, lang=language, sent="1"), status=303)
        done["Cache-Control"] = "no-store"
        return done
    return _render(request, context, language, embedded)


def _render(
    request: HttpRequest, context: dict[str, Any], language: str, embedded: bool, *, status: int = 200
) -> HttpResponse:
    if embedded:
        context["form_token"] = make_form_token()
    return base.render_page(
        request, "inquiry.html", context, language=language, words=TEXTS, status=status, embeddable=embedded
    )


@base.customer_page
def inquiry_page(request: HttpRequest) -> HttpResponse:
    """The shop's contact form with its header and footer; Django's CSRF check."""
    return _inquiry(request, embedded=False)


@embeddable_page
def inquiry_embed_page(request: HttpRequest) -> HttpResponse:
    """The same form for a storefront's iframe: no shop header or footer, framable, a form token for CSRF."""
    return _inquiry(request, embedded=True)
