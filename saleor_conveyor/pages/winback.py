"""The win-back survey page (`survey/winback/`, a lapsed customer: why did you stop?) and, with
`?kind=improvement`, the honesty letter's improvement survey (a detractor: what should we improve?).

A GET shows the form (or the thanks, once answered) and writes nothing; the answer is recorded by the
service path of `submitWinbackSurvey`, so the API's rules and error codes hold here too.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from .. import conveyor, tokens
from ..engine import ANSWER_CODES, WinbackKind
from ..errors import ConveyorError, ErrorCode
from ..events import COMMENT_MAX, WinbackAnswered
from . import base

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "title_winback": "ご購入をお休みされている理由をお聞かせください",
        "intro_winback": (
            "前回のご購入からしばらく経ちました。今後の改善のため、よろしければ理由を教えてください。1分ほどで終わります。"
        ),
        "legend_winback": "ご購入をお休みされている理由は何ですか?(当てはまるものをすべて)",
        "comment_winback": "そのほか、お聞かせいただけることがあればご記入ください",
        "title_improvement": "改善すべき点を教えてください",
        "intro_improvement": (
            "率直なご評価をありがとうございました。ご期待に沿えなかった点をお聞かせください。いただいたご意見はすべて拝見します。"
        ),
        "legend_improvement": "改善すべき点はどこですか?(当てはまるものをすべて)",
        "comment_improvement": "具体的に何があったか、どうすればよかったかをお聞かせください",
        "comment_note": "任意・2,000文字まで",
        "winback_PRICE": "価格が高い",
        "winback_NO_LONGER_NEEDED": "商品が必要なくなった",
        "winback_QUALITY": "品質が期待と違った",
        "winback_DELIVERY": "配送・送料に不満があった",
        "winback_FOUND_ELSEWHERE": "ほかのお店・商品を見つけた",
        "winback_TOO_MANY_EMAILS": "メールが多すぎる",
        "winback_OTHER": "その他",
        "improvement_PRODUCT_QUALITY": "商品の品質",
        "improvement_PRICE": "価格",
        "improvement_DELIVERY": "配送・送料",
        "improvement_PACKAGING": "梱包",
        "improvement_CUSTOMER_SERVICE": "お問い合わせ・接客の対応",
        "improvement_WEBSITE": "ウェブサイト・ご注文の手続き",
        "improvement_EMAILS": "メールの内容・頻度",
        "improvement_OTHER": "その他",
        "thanks_title": "ご回答ありがとうございました",
        "thanks_winback": (
            "いただいたご回答はすべて拝見し、商品やサービスの見直しに活かします。"
            "私たちで解決できることがあれば、担当者からご連絡を差し上げる場合があります。"
        ),
        "thanks_improvement": (
            "ご意見は担当者がすべて拝見し、改善に取り組みます。必要に応じて、担当者から直接ご連絡いたします。"
        ),
        "already_answered": "このアンケートには、すでにご回答いただいています。",
        "errors_heading": "入力内容をご確認ください",
        "error_reasons_INVALID": "ひとつ以上お選びいただくか、ご意見をご記入ください。",
        "error_comment_OUT_OF_RANGE": "ご意見は2,000文字以内でご記入ください。",
        "error_comment_INVALID": "読み取れない文字が含まれています。",
    },
    "en": {
        "title_winback": "May we ask why you stopped?",
        "intro_winback": (
            "It has been a while since your last order. If you tell us why, we can do better. It takes a minute."
        ),
        "legend_winback": "What made you stop ordering? Choose any that apply.",
        "comment_winback": "Anything else you would like to tell us?",
        "title_improvement": "What should we improve?",
        "intro_improvement": ("Thank you for your honest rating. Tell us where we fell short: we read every answer."),
        "legend_improvement": "What should we improve? Choose any that apply.",
        "comment_improvement": "What happened, and what would have made it better?",
        "comment_note": "optional, up to 2,000 characters",
        "winback_PRICE": "The price",
        "winback_NO_LONGER_NEEDED": "I no longer need the products",
        "winback_QUALITY": "The quality was not what I expected",
        "winback_DELIVERY": "Delivery or shipping costs",
        "winback_FOUND_ELSEWHERE": "I found another shop or product",
        "winback_TOO_MANY_EMAILS": "Too many emails",
        "winback_OTHER": "Something else",
        "improvement_PRODUCT_QUALITY": "Product quality",
        "improvement_PRICE": "Price",
        "improvement_DELIVERY": "Delivery and shipping",
        "improvement_PACKAGING": "Packaging",
        "improvement_CUSTOMER_SERVICE": "Customer service",
        "improvement_WEBSITE": "The website and ordering",
        "improvement_EMAILS": "Our emails",
        "improvement_OTHER": "Something else",
        "thanks_title": "Thank you for telling us",
        "thanks_winback": (
            "We read every answer and use it to decide what to change. "
            "If there is something we can put right, a member of our team may get in touch."
        ),
        "thanks_improvement": (
            "A member of our team reads every answer and works on what it says. "
            "Where it helps, they will write to you personally."
        ),
        "already_answered": "We already have your answer to this survey.",
        "errors_heading": "Please check your answer",
        "error_reasons_INVALID": "Choose at least one answer, or write a comment.",
        "error_comment_OUT_OF_RANGE": "Please keep the comment to 2,000 characters.",
        "error_comment_INVALID": "The comment contains characters we cannot read.",
    },
}
FORM_FIELDS = ("reasons", "comment")


def _kind(request: HttpRequest) -> WinbackKind | None:
    """The survey the link asks for (win-back unless it says improvement); None for anything else."""
    value = (request.POST.get("kind") if request.method == "POST" else None) or request.GET.get("kind") or "winback"
    try:
        return WinbackKind(value)
    except ValueError:
        return None


@base.customer_page
def winback_page(request: HttpRequest) -> HttpResponse:
    """The survey's form; a POST records the answer (refused: the form again, the error beside its field)."""
    profile = base.read_link(request, tokens.SURVEY)
    language = base.page_language(request, profile)
    kind = _kind(request)
    if kind is None:
        return base.refusal_page(request, "link_invalid", language=language, status=400)
    token = request.POST.get("token") if request.method == "POST" else request.GET.get("token")
    page = {"kind": kind.value, "token": token, "form_action": base.page_url(request, "winback")}
    if request.method == "POST":
        reasons = request.POST.getlist("reasons")
        comment = request.POST.get("comment", "")
        answer = WinbackAnswered(profile.pk, kind, tuple(reasons), timezone.now(), comment)
        try:
            conveyor.record_winback_survey(answer)
        except ConveyorError as error:
            if error.code == ErrorCode.INVALID_TOKEN:
                raise
            if error.code == ErrorCode.ALREADY_EXISTS:
                return _render(request, "thanks", page, language, already=True)
            return _render(
                request, "form", page, language, status=400, error=error, chosen=set(reasons), comment=comment
            )
        done = base.page_url(request, "winback", token=token, kind=kind.value, lang=language)
        response = HttpResponseRedirect(done, status=303)
        response["Cache-Control"] = "no-store"
        return response
    if conveyor.winback.stored_answer(profile, kind) is not None:
        return _render(request, "thanks", page, language)
    return _render(request, "form", page, language)


def _render(
    request: HttpRequest,
    step: str,
    page: dict[str, Any],
    language: str,
    *,
    status: int = 200,
    already: bool = False,
    error: ConveyorError | None = None,
    chosen: set[str] | frozenset[str] = frozenset(),
    comment: str = "",
) -> HttpResponse:
    words = {**TEXTS["en"], **TEXTS.get(language, {})}
    kind = page["kind"]
    errors: dict[str, str] = {}
    if error is not None:
        field = error.field if error.field in FORM_FIELDS else "form"
        errors[field] = words.get(f"error_{error.field}_{error.code.value}") or error.message
    choices = [
        {"code": code, "label": words[f"{kind}_{code}"], "checked": code in chosen}
        for code in ANSWER_CODES[WinbackKind(kind)]
    ]
    context = {
        **page,
        "step": step,
        "already": already,
        "choices": choices,
        "comment": comment,
        "comment_max": COMMENT_MAX,
        "errors": errors,
        "title": words[f"title_{kind}"] if step == "form" else words["thanks_title"],
        "intro": words[f"intro_{kind}"],
        "legend": words[f"legend_{kind}"],
        "comment_label": words[f"comment_{kind}"],
        "thanks": words[f"thanks_{kind}"],
    }
    return base.render_page(request, "winback.html", context, language=language, words=TEXTS, status=status)
