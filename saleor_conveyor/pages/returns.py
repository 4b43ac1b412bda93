"""The return request page: a customer picks shipped lines of one order, a reason and a comment.

Who is asking comes from one of two places, never from the form:

- a signed RETURN link (`tokens.link(profile, tokens.RETURN, order_id=...)`, in the emails sent after shipment):
  it names one customer and one order, so a link for order A never opens order B, and a survey or
  unsubscribe token opens nothing here;
- a signed-in customer of the host (`host.user_from_request`: the sandbox's session or `Authorization`
  header) with `?order=<Order ID>`. Saleor keeps no cookie session for customers: a browser that follows a
  link to the plugin's page sends no token, so there the signed link is the way in (docs/pages.md).

The page shows the order's shipped lines with what is still returnable (shipped minus what requests that
were not rejected already ask for: the numbers `requestReturn` checks), and every request of the order with
its status. Submitting goes through `conveyor.request_return`, the service the `requestReturn` mutation
calls, so its rules and errors hold; someone else's order is NOT_FOUND and looks exactly like a missing one.
A GET only reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from .. import conveyor, tokens
from ..conveyor.returns import requested_quantities
from ..errors import ConveyorError, ErrorCode
from ..events import COMMENT_MAX, Customer, ReturnLineRequested, ReturnRequested, host_id_problem
from ..hosts import OrderInfo, get_config, get_host
from ..models import FanProfile, Purchase, ReturnReason, ReturnRequest
from . import base
from .texts import texts

# Most digits a quantity field may hold: more is not a quantity anyone ships.
QUANTITY_DIGITS = 6

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "title": "返品のお申し込み",
        "order": "ご注文番号",
        "intro": "返品したい商品の数量と理由をお選びください。内容を確認のうえ、ショップからご連絡します。",
        "which_items": "返品する商品",
        "shipped_and_returnable": "発送済み {fulfilled} 点のうち、返品できるのは {available} 点です。",
        "all_requested": "発送済みの {fulfilled} 点はすべて返品を申し込み済みです。",
        "quantity": "返品する数量",
        "reason": "返品の理由",
        "reason_DAMAGED": "破損・汚れがあった",
        "reason_WRONG_ITEM": "注文と違う商品が届いた",
        "reason_NOT_AS_DESCRIBED": "説明と違っていた",
        "reason_CHANGED_MIND": "気が変わった",
        "reason_OTHER": "その他",
        "comment": "詳しい状況",
        "comment_hint": "2,000文字まで。写真が必要な場合は、後ほどメールでお願いします。",
        "submit": "返品を申し込む",
        "sent": "返品のお申し込みを受け付けました。ショップが確認してご連絡します。",
        "your_requests": "これまでのお申し込み",
        "requested_on": "{date} のお申し込み",
        "status": "状況",
        "status_REQUESTED": "確認中",
        "status_APPROVED": "承認済み・商品のご返送をお待ちしています",
        "status_REJECTED": "お受けできませんでした",
        "status_RECEIVED": "商品を受け取りました",
        "status_REFUNDED": "返金しました",
        "window_closed": (
            "返品の受付期間は発送から{days}日間で、その期間を過ぎています。ご不明な点はお問い合わせください。"
        ),
        "nothing_shipped": "このご注文には、まだ発送済みの商品がありません。発送後にお申し込みいただけます。",
        "nothing_left": "このご注文の発送済みの商品は、すべて返品を申し込み済みです。",
        "not_found_title": "ご注文が見つかりません",
        "not_found_body": ("このご注文は見つかりませんでした。メールのリンクをもう一度開くか、お問い合わせください。"),
        "sign_in_title": "返品のお申し込み",
        "sign_in_body": (
            "発送完了のメールにある返品のリンクを開くか、ショップにログインしてご注文履歴からお申し込みください。"
        ),
        "no_account_body": (
            "アカウントなしでご注文いただいた場合は、お問い合わせフォームから返品をお申し込みください。"
        ),
        "error_choose_line": "返品する商品の数量を1点以上お選びください。",
        "error_quantity": "数量は整数で入力してください。",
        "error_too_many": "返品できるのは最大 {available} 点です。",
        "error_line_not_found": "この商品はご注文に含まれていません。",
        "error_reason": "返品の理由をお選びください。",
        "error_comment_too_long": "2,000文字以内でご記入ください。",
    },
    "en": {
        "title": "Request a return",
        "order": "Order number",
        "intro": "Choose how many of each item you want to return and why. The shop will check and get back to you.",
        "which_items": "Items to return",
        "shipped_and_returnable": "{fulfilled} shipped; you can return up to {available}.",
        "all_requested": "A return is already requested for all {fulfilled} shipped.",
        "quantity": "Quantity to return",
        "reason": "Reason for the return",
        "reason_DAMAGED": "Damaged or dirty",
        "reason_WRONG_ITEM": "Not the item I ordered",
        "reason_NOT_AS_DESCRIBED": "Not as described",
        "reason_CHANGED_MIND": "I changed my mind",
        "reason_OTHER": "Something else",
        "comment": "What happened",
        "comment_hint": "Up to 2,000 characters. If photos would help, we will ask for them by email.",
        "submit": "Request the return",
        "sent": "We have your return request. The shop will check it and get back to you.",
        "your_requests": "Your requests",
        "requested_on": "Requested on {date}",
        "status": "Status",
        "status_REQUESTED": "Being checked",
        "status_APPROVED": "Approved: please send the items back",
        "status_REJECTED": "Not accepted",
        "status_RECEIVED": "Items received",
        "status_REFUNDED": "Refunded",
        "window_closed": "Returns are accepted within {days} days of delivery, and that time has passed. "
        "If you need anything, please write to us.",
        "nothing_shipped": "Nothing from this order has shipped yet. You can ask for a return once it has.",
        "nothing_left": "A return is already requested for everything shipped in this order.",
        "not_found_title": "Order not found",
        "not_found_body": "We could not find this order. Please open the link in the email again, or write to us.",
        "sign_in_title": "Request a return",
        "sign_in_body": "Open the return link in the email we sent when your order shipped, "
        "or sign in to the shop and start from your order history.",
        "no_account_body": "For an order placed without an account, please ask for a return through the contact form.",
        "error_choose_line": "Choose at least one item to return.",
        "error_quantity": "Enter a whole number.",
        "error_too_many": "You can return at most {available} of this item.",
        "error_line_not_found": "This item is not part of the order.",
        "error_reason": "Choose a reason for the return.",
        "error_comment_too_long": "Please keep it to 2,000 characters.",
    },
}


@dataclass
class ReturnableLine:
    """One shipped order line as the form shows it."""

    id: str
    product_name: str
    fulfilled: int
    available: int
    chosen: int = 0
    hint: str = ""
    error: str = ""

    @property
    def choices(self) -> range:
        return range(self.available + 1)


@dataclass
class ReturnPage:
    """Everything the page shows for one customer's order."""

    customer: Customer
    order: OrderInfo
    purchase: Purchase
    window_days: int
    window_closes_at: datetime
    lines: list[ReturnableLine]
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def window_open(self) -> bool:
        return timezone.now() <= self.window_closes_at

    @property
    def returnable(self) -> bool:
        return any(line.available for line in self.lines)


def _ask_for_return(event: ReturnRequested) -> ReturnRequest:
    """The requestReturn mutation's own service calls: the host's word on the order, then the decision."""
    event = event.validate()
    order = conveyor.order_for_return(event.order_id, event.customer)
    return conveyor.request_return(event, order=order, window_days=conveyor.return_window_days())


def _order_id(value: str) -> str | None:
    """`?order=`: the API's Order ID, or the host's own id; None when it is neither."""
    from ..graphql.core import decode_id

    try:
        return decode_id(value, "Order", "orderId")
    except ConveyorError:
        return None if host_id_problem(value) else value


def _customer(profile: FanProfile) -> Customer:
    return Customer(email=profile.email, user_id=profile.user_id, first_name=profile.first_name)


def _who(request: HttpRequest) -> tuple[Customer | None, FanProfile | None, str | None, dict[str, str]]:
    """The customer, their profile, the order and the query that reopens this page: from the signed link,
    else the host's signed-in user; INVALID_TOKEN for a bad link."""
    token = (request.POST.get("token") if request.method == "POST" else None) or request.GET.get("token")
    if token:
        claims = tokens.read_claims(token, tokens.RETURN)
        profile = tokens.profile_for_id(claims.profile_id)
        return _customer(profile), profile, claims.order_id, {"token": token}
    user = get_host().user_from_request(request)
    if user is None:
        return None, None, None, {}
    raw_order = (request.POST.get("order") if request.method == "POST" else None) or request.GET.get("order", "")
    profile = FanProfile.objects.filter(user_id=user.pk).first()
    customer = Customer(email=user.email or "", user_id=user.pk, first_name=getattr(user, "first_name", "") or "")
    return customer, profile, _order_id(raw_order) if raw_order else None, {"order": raw_order}


def _date(moment: datetime, language: str) -> str:
    local = timezone.localtime(moment)
    return f"{local.year}年{local.month}月{local.day}日" if language == "ja" else f"{local.day} {local:%B %Y}"


def _return_page(customer: Customer, order_id: str, words: dict[str, str], language: str) -> ReturnPage | None:
    """The customer's own order with its shipped lines and requests; None for a missing or someone else's order
    (the same test `request_return` makes: the host's owner and the conveyor's ledger row both the account's)."""
    if customer.user_id is None:
        return None
    order = get_host().order_info(order_id)
    if order is None or order.id != order_id or order.user_id is None or order.user_id != customer.user_id:
        return None
    purchase = Purchase.objects.filter(order_id=order_id, profile__user_id=customer.user_id).first()
    if purchase is None:
        return None
    requested = requested_quantities(purchase.pk)
    lines = []
    for line in order.lines:
        if line.quantity_fulfilled < 1:
            continue
        available = max(line.quantity_fulfilled - requested.get(line.id, 0), 0)
        hint_key = "shipped_and_returnable" if available else "all_requested"
        hint = words[hint_key].format(fulfilled=line.quantity_fulfilled, available=available)
        lines.append(ReturnableLine(line.id, line.product_name, line.quantity_fulfilled, available, hint=hint))
    window_days = get_config().return_window_days
    requests = [
        {
            "id": str(asked.pk),
            "date": words["requested_on"].format(date=_date(asked.created_at, language)),
            "status": asked.status,
            "status_label": words.get(f"status_{asked.status}", asked.status),
            "reason_label": words.get(f"reason_{asked.reason}", asked.reason),
            "lines": [(line.quantity, line.product_name) for line in asked.lines.all()],
        }
        for asked in ReturnRequest.objects.filter(purchase=purchase).prefetch_related("lines").order_by("-created_at")
    ]
    return ReturnPage(
        customer=customer,
        order=order,
        purchase=purchase,
        window_days=window_days,
        window_closes_at=(purchase.fulfilled_at or purchase.placed_at) + timedelta(days=window_days),
        lines=lines,
        requests=requests,
    )


def _line_index(error_field: str | None) -> int | None:
    parts = (error_field or "").split(".")
    if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit():
        return int(parts[1])
    return None


def _show_error(error: ConveyorError, page: ReturnPage, asked: list[ReturnableLine], words: dict[str, str]) -> dict:
    """A refused request's error beside its field, in the page's language (English message where unmapped)."""
    errors: dict[str, str] = {}
    index = _line_index(error.field)
    if index is not None and index < len(asked):
        line = asked[index]
        if error.code is ErrorCode.OUT_OF_RANGE:
            line.error = words["error_too_many"].format(available=line.available)
        elif error.code is ErrorCode.NOT_FOUND:
            line.error = words["error_line_not_found"]
        else:
            line.error = error.message
    elif error.field == "lines" and error.code is ErrorCode.INVALID and error.message.startswith("Choose"):
        errors["lines"] = words["error_choose_line"]
    elif error.field == "reason":
        errors["reason"] = words["error_reason"]
    elif error.field == "comment" and error.code is ErrorCode.OUT_OF_RANGE:
        errors["comment"] = words["error_comment_too_long"]
    elif error.code is ErrorCode.WINDOW_CLOSED:
        errors["form"] = words["window_closed"].format(days=page.window_days)
    else:
        errors["form"] = error.message
    return errors


def _posted_lines(request: HttpRequest, page: ReturnPage, words: dict[str, str]) -> list[ReturnableLine] | None:
    """The lines the customer chose, in order; None (errors set on the lines) if a quantity is not a number."""
    chosen, readable = [], True
    for line in page.lines:
        raw = request.POST.get(f"quantity-{line.id}", "").strip() or "0"
        if not (raw.isascii() and raw.isdigit() and len(raw) <= QUANTITY_DIGITS):
            line.error, readable = words["error_quantity"], False
            continue
        line.chosen = int(raw)
        if line.chosen:
            chosen.append(line)
    return chosen if readable else None


@base.customer_page
def return_page(request: HttpRequest) -> HttpResponse:
    """GET shows the order and its requests; POST asks for a return through the mutation's service."""
    customer, profile, order_id, reopen = _who(request)
    language = base.page_language(request, profile)
    words = texts(language, TEXTS)
    context: dict[str, Any] = {
        "state": "form",
        "errors": {},
        "reopen": reopen,
        "comment_max": COMMENT_MAX,
        "action": base.page_url(request, "returns", lang=language),
    }
    if customer is None:
        return _render(request, {**context, "state": "sign_in"}, language, status=200)
    if customer.user_id is None:
        return _render(request, {**context, "state": "no_account", "order_id": order_id}, language, status=200)
    page = _return_page(customer, order_id, words, language) if order_id else None
    if page is None:
        return _render(request, {**context, "state": "not_found"}, language, status=404)
    context.update(
        page=page,
        sent=request.GET.get("sent") == "1",
        reasons=_reasons(words),
        window_closed_text=words["window_closed"].format(days=page.window_days),
    )
    if request.method != "POST":
        return _render(request, context, language)
    context.update(chosen_reason=request.POST.get("reason", ""), comment=request.POST.get("comment", ""))
    asked = _posted_lines(request, page, words)
    if asked is None:
        return _render(request, context, language, status=400)
    event = ReturnRequested(
        customer=customer,
        order_id=page.order.id,
        lines=tuple(ReturnLineRequested(line.id, line.chosen) for line in asked),
        reason=context["chosen_reason"],
        comment=context["comment"],
    )
    try:
        _ask_for_return(event)
    except ConveyorError as error:
        if error.code is ErrorCode.NOT_FOUND and error.field == "orderId":
            return _render(request, {**context, "state": "not_found"}, language, status=404)
        context["errors"] = _show_error(error, page, asked, words)
        return _render(request, context, language, status=400)
    done = HttpResponseRedirect(base.page_url(request, "returns", **reopen, lang=language, sent="1"), status=303)
    done["Cache-Control"] = "no-store"
    done["Referrer-Policy"] = "same-origin"
    return done


def _reasons(words: dict[str, str]) -> list[tuple[str, str]]:
    return [(reason, words[f"reason_{reason}"]) for reason in ReturnReason.values]


def _render(request: HttpRequest, context: dict[str, Any], language: str, *, status: int = 200) -> HttpResponse:
    return base.render_page(request, "returns.html", context, language=language, words=TEXTS, status=status)
