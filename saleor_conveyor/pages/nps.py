"""The NPS survey page: the landing page of the eleven one-click links in the NPS email.

A GET only shows the chosen score (link scanners open every link in an email: they must record nothing).
The score is recorded by a POST from the page: when the customer presses Send, or from the page's small
script after the customer's first real interaction with the loaded page (a touch, a click, a key, a
wheel turn), so a customer who clicked a score and closes the tab after touching the page is counted.
A second choice within `PAGE_REPLACE_WINDOW` of the first replaces it (conveyor.record_nps).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from .. import conveyor, tokens
from ..conveyor.surveys import PAGE_REPLACE_WINDOW
from ..engine import nps_category
from ..engine.surveys import answer_occasion
from ..errors import ConveyorError, ErrorCode
from ..events import COMMENT_MAX, Customer, NpsAnswered
from ..hosts import get_config
from ..models import FanProfile, NpsResponse
from . import base

SCORES = range(11)
SCORE_VALUES = {str(score): score for score in SCORES}
MINUTES = int(PAGE_REPLACE_WINDOW.total_seconds() // 60)
ORDER_ID_MAX = 64
# What each follow-up the rule book may plan for an answer tells the customer on the thank-you screen.
FOLLOW_UPS = ("referral", "story_video", "honesty_letter")

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "nps_title": "アンケート",
        "nps_question": "{shop} を友人や知人にすすめる可能性はどのくらいありますか。",
        "nps_scale_low": "0: まったくない",
        "nps_scale_high": "10: 非常に高い",
        "nps_chosen": "メールで選んだ数字が選ばれています。違っていれば選び直してください。",
        "nps_comment": "よろしければ、その理由をお聞かせください",
        "nps_comment_hint": "2,000文字まで。",
        "nps_score_required": "0から10のうち、ひとつ選んでください。",
        "nps_comment_too_long": "コメントは2,000文字以内でお願いします。",
        "nps_order_unknown": "このご注文についてのアンケートは見つかりませんでした。",
        "nps_saved": "回答を受け付けました: {score}",
        "nps_thanks_title": "ご回答ありがとうございます",
        "nps_thanks_score": "いただいた回答: {score}",
        "nps_thanks_body": "いただいた回答はすべて {shop} のスタッフが拝読します。",
        "nps_change_until": "最初のご回答から{minutes}分間は、回答を直せます。新しい回答が前の回答と置き換わります。",
        "nps_next_referral": ("お友だちに紹介していただける、あなた専用の紹介コードをメールでお送りします。"),
        "nps_next_story_video": "商品に込めた想いをお伝えする動画を、メールでお送りします。",
        "nps_next_honesty_letter": (
            "率直なご意見に感謝いたします。改善のためのお便りとアンケートをメールでお送りします。"
        ),
        "nps_change": "回答を直す",
        "nps_already_title": "すでにご回答いただいています",
        "nps_already_body": "このアンケートにはすでにご回答いただいています。次のアンケートでまたお聞かせください。",
    },
    "en": {
        "nps_title": "One question",
        "nps_question": "How likely are you to recommend {shop} to a friend or colleague?",
        "nps_scale_low": "0 = not likely",
        "nps_scale_high": "10 = very likely",
        "nps_chosen": "The number you chose in the email is selected. Choose another if it is not right.",
        "nps_comment": "If you like, tell us why",
        "nps_comment_hint": "Up to 2,000 characters.",
        "nps_score_required": "Please choose one number from 0 to 10.",
        "nps_comment_too_long": "Please keep the comment to 2,000 characters.",
        "nps_order_unknown": "We could not find this survey for your order.",
        "nps_saved": "Your answer ({score}) is saved.",
        "nps_thanks_title": "Thank you for answering",
        "nps_thanks_score": "Your answer: {score}",
        "nps_thanks_body": "Everyone at {shop} reads every answer.",
        "nps_change_until": "For {minutes} minutes after your first answer you can change it; the new one replaces it.",
        "nps_next_referral": "We will email you a personal referral code to share with friends.",
        "nps_next_story_video": "We will email you the story behind our products, in a short video.",
        "nps_next_honesty_letter": ("Thank you for being honest. We will write to you, and ask how we can do better."),
        "nps_change": "Change my answer",
        "nps_already_title": "You have already answered",
        "nps_already_body": "This survey already has your answer. We will ask again in the next survey.",
    },
}


def _customer(profile: FanProfile) -> Customer:
    """The link's customer as the service identifies them (a merged guest's link names its account)."""
    return Customer(email=profile.email, user_id=profile.user_id)


def _score(value: object) -> int | None:
    """A score from the link or the form: a whole number 0-10 written plainly, else none chosen."""
    return SCORE_VALUES.get(value) if isinstance(value, str) else None  # ASCII only: "٣" is a digit to int()


def _order(value: object) -> str | None:
    if isinstance(value, str) and value and len(value) <= ORDER_ID_MAX:
        return value
    return None


def _stored_answer(profile: FanProfile, order_id: str | None, now: datetime) -> NpsResponse | None:
    """The answer this link's occasion already has, if any (read only: the page writes through the service)."""
    occasion = answer_occasion(order_id, now, get_config().rule_book.survey_window_days())
    return NpsResponse.objects.filter(profile=profile, occasion=occasion).first()


def _replaceable(answer: NpsResponse | None, now: datetime) -> bool:
    return answer is not None and answer.replaceable_until is not None and now < answer.replaceable_until


def _follow_ups(score: int) -> list[str]:
    """The follow-ups the rule book plans for this score's category (what the thank-you screen promises)."""
    category = nps_category(score)
    book = get_config().rule_book
    active = {rule.name for rule in book.active_rules({"nps"}) if rule.category == category}
    return [name for name in FOLLOW_UPS if name in active]


def _context(
    request: HttpRequest,
    profile: FanProfile,
    language: str,
    *,
    state: str,
    score: int | None,
    order_id: str | None,
    comment: str = "",
    errors: dict[str, str] | None = None,
    answer: NpsResponse | None = None,
) -> dict[str, Any]:
    words = base.texts(language, TEXTS)
    shop = base.branding(get_config()).shop_name
    token = request.POST.get("token") if request.method == "POST" else request.GET.get("token", "")
    changeable = answer is not None and _replaceable(answer, timezone.now())
    return {
        "state": state,
        "question": words["nps_question"].format(shop=shop),
        "scores": list(SCORES),
        "chosen": score,
        "comment": comment,
        "comment_max": COMMENT_MAX,
        "order_id": order_id or "",
        "token": token,
        "errors": errors or {},
        "action": base.page_url(request, "nps"),
        "answer": answer,
        "thanks_score": words["nps_thanks_score"].format(score=answer.score) if answer else "",
        "thanks_body": words["nps_thanks_body"].format(shop=shop),
        "change_until": words["nps_change_until"].format(minutes=MINUTES) if changeable else "",
        "change_url": base.page_url(request, "nps", token=token, order=order_id, score=answer.score, lang=language)
        if changeable
        else "",
        "next_steps": [words[f"nps_next_{name}"] for name in _follow_ups(answer.score)] if answer else [],
        "auto_confirm": state == "form" and score is not None,
        "recorded_score": None,
    }


def _render(request: HttpRequest, language: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return base.render_page(request, "nps.html", context, language=language, words=TEXTS, status=status)


@base.customer_page
def nps_page(request: HttpRequest) -> HttpResponse:
    """GET: the question with the link's score chosen (records nothing). POST: record (or replace) the answer."""
    profile = base.read_link(request, tokens.SURVEY)
    language = base.page_language(request, profile)
    source = request.POST if request.method == "POST" else request.GET
    order_id = _order(source.get("order"))
    score = _score(source.get("score"))
    now = timezone.now()
    if request.method != "POST":
        stored = _stored_answer(profile, order_id, now)
        if stored is not None and not _replaceable(stored, now):
            context = _context(request, profile, language, state="already", score=None, order_id=order_id)
            return _render(request, language, context)
        context = _context(
            request,
            profile,
            language,
            state="form",
            score=score,
            order_id=order_id,
            comment=stored.comment if stored is not None else "",  # a re-post keeps what they wrote
        )
        context["recorded_score"] = stored.score if stored is not None else None
        return _render(request, language, context)
    return _record(request, profile, language, score=score, order_id=order_id, now=now)


def _record(
    request: HttpRequest, profile: FanProfile, language: str, *, score: int | None, order_id: str | None, now: datetime
) -> HttpResponse:
    """The page's POST: Send, or the script's confirmation (`confirm=auto`, answered with JSON)."""
    automatic = request.POST.get("confirm") == "auto"
    comment = request.POST.get("comment", "")
    words = base.texts(language, TEXTS)
    errors: dict[str, str] = {}
    if score is None:
        errors["score"] = words["nps_score_required"]
    else:
        answer = NpsAnswered(_customer(profile), score, now, order_id=order_id, comment=comment)
        try:
            response = conveyor.record_nps(answer, now=now, replace_within=PAGE_REPLACE_WINDOW)
        except ConveyorError as error:
            if error.code == ErrorCode.ALREADY_EXISTS:
                if automatic:
                    return JsonResponse({"recorded": False, "state": "already"}, status=409)
                context = _context(request, profile, language, state="already", score=None, order_id=order_id)
                return _render(request, language, context)
            if error.code == ErrorCode.NOT_FOUND:  # an order id changed in the link: not this customer's
                return base.refusal_page(request, "link_invalid", language=language, status=400)
            if error.field != "comment":
                raise
            errors["comment"] = words["nps_comment_too_long"] if error.code == ErrorCode.OUT_OF_RANGE else error.message
        else:
            if automatic:
                return JsonResponse(
                    {"recorded": True, "score": response.score, "message": words["nps_saved"].format(score=score)}
                )
            stored = NpsResponse.objects.get(pk=response.pk)
            context = _context(
                request, profile, language, state="thanks", score=score, order_id=order_id, answer=stored
            )
            return _render(request, language, context)
    if automatic:
        return JsonResponse({"recorded": False, "errors": errors}, status=400)
    context = _context(
        request, profile, language, state="form", score=score, order_id=order_id, comment=comment, errors=errors
    )
    context["auto_confirm"] = False
    return _render(request, language, context, status=400)
