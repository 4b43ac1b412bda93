"""The fan-degree survey page: the method's two questions on one screen, recorded as submitFanSurvey records them.

A GET shows the questions and writes nothing; Send records through `conveyor.record_fan_survey`, whose
one-answer-per-window rule (ALREADY_EXISTS) shows the "already answered" state.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .. import conveyor, tokens
from ..engine import FanDegree, Liking
from ..engine.surveys import answer_occasion
from ..errors import ConveyorError, ErrorCode
from ..events import COMMENT_MAX, Customer, FanSurveyAnswered
from ..hosts import get_config
from ..models import FanProfile, FanSurveyResponse
from . import base

# The method's wording (DESIGN.md), in the scale's order, weakest first.
FAN_DEGREE_WORDS: dict[str, dict[str, str]] = {
    "ja": {
        FanDegree.NOT_A_FAN: "ファンではない",
        FanDegree.NEW_FAN: "ファンになりたて、これから応援するのが楽しみ!",
        FanDegree.KEEP_SUPPORTING: "これからもずっと継続して応援したい!",
        FanDegree.MORE_THAN_EVER: "これまで以上に、夢中になって応援したい!",
        FanDegree.WANT_TO_HELP: "もっと関わりたい、積極的に協力したい!",
        FanDegree.PART_OF_LIFE: "もはや人生の一部、未来を共に創っていきたい!",
    },
    "en": {
        FanDegree.NOT_A_FAN: "Not a fan",
        FanDegree.NEW_FAN: "A new fan, looking forward to supporting you",
        FanDegree.KEEP_SUPPORTING: "Want to keep supporting you",
        FanDegree.MORE_THAN_EVER: "Want to support you more than ever",
        FanDegree.WANT_TO_HELP: "Want to be more involved and help",
        FanDegree.PART_OF_LIFE: "Part of my life, want to build the future together",
    },
}
LIKING_WORDS: dict[str, dict[str, str]] = {
    "ja": {
        Liking.NOT_AT_ALL: "正直全く好きではない",
        Liking.NOT_REALLY: "あまり好きではない",
        Liking.NEUTRAL: "好きでも嫌いでもない",
        Liking.SOMEWHAT: "まあまあ好き",
        Liking.LIKE: "好き",
        Liking.LOVE: "大好き",
        Liking.ADORE: "愛があると言えるほど大好き",
    },
    "en": {
        Liking.NOT_AT_ALL: "Honestly, I do not like it at all",
        Liking.NOT_REALLY: "I do not really like it",
        Liking.NEUTRAL: "I neither like nor dislike it",
        Liking.SOMEWHAT: "I quite like it",
        Liking.LIKE: "I like it",
        Liking.LOVE: "I love it",
        Liking.ADORE: "I adore it: it is true love",
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "fan_title": "2つの質問",
        "fan_intro": "1分もかかりません。当てはまるものをひとつずつお選びください。",
        "fan_degree_question": "{shop} に対するお気持ちに最も近いものはどれですか。",
        "fan_liking_question": "{shop} のことを正直どう思っていますか。",
        "fan_comment": "ほかにお伝えしたいことがあればどうぞ",
        "fan_comment_hint": "2,000文字まで。",
        "fan_choose_one": "ひとつ選んでください。",
        "fan_comment_too_long": "コメントは2,000文字以内でお願いします。",
        "fan_errors_title": "選ばれていない質問があります。",
        "fan_thanks_title": "ご回答ありがとうございます",
        "fan_thanks_body": (
            "いただいた回答は、{shop} からお送りするご案内やメールの内容を、あなたに合ったものにするために使います。"
        ),
        "fan_thanks_private": "回答は {shop} のスタッフだけが読み、ほかの方に公開することはありません。",
        "fan_thanks_next": "しばらくしたら、またお気持ちをお聞きすることがあります。",
        "fan_already_title": "すでにご回答いただいています",
        "fan_already_body": "今回のアンケートにはすでにご回答いただいています。次のアンケートでまたお聞かせください。",
    },
    "en": {
        "fan_title": "Two quick questions",
        "fan_intro": "It takes less than a minute. Please choose one answer to each.",
        "fan_degree_question": "Which best describes how you feel about {shop}?",
        "fan_liking_question": "What do you honestly think of {shop}?",
        "fan_comment": "Anything else you would like to tell us",
        "fan_comment_hint": "Up to 2,000 characters.",
        "fan_choose_one": "Please choose one answer.",
        "fan_comment_too_long": "Please keep the comment to 2,000 characters.",
        "fan_errors_title": "A question has no answer yet.",
        "fan_thanks_title": "Thank you for answering",
        "fan_thanks_body": "We will use your answers to make what {shop} sends you fit you: the news, offers and "
        "invitations you receive.",
        "fan_thanks_private": "Only the {shop} team reads your answers; they are never shown to anyone else.",
        "fan_thanks_next": "In a few months we may ask again how you feel.",
        "fan_already_title": "You have already answered",
        "fan_already_body": "This survey already has your answer. We will ask again in the next survey.",
    },
}


def _choice(value: object, kind: type[FanDegree] | type[Liking]) -> str | None:
    if isinstance(value, str) and value in kind.__members__:
        return kind(value).value
    return None


def _already_answered(profile: FanProfile) -> bool:
    """Whether this survey window already has the customer's answer (read only)."""
    occasion = answer_occasion(None, timezone.now(), get_config().rule_book.survey_window_days())
    return FanSurveyResponse.objects.filter(profile=profile, occasion=occasion).exists()


def _context(request: HttpRequest, language: str, state: str, **values: Any) -> dict[str, Any]:
    words = base.texts(language, TEXTS)
    shop = base.branding(get_config()).shop_name
    chosen_degree, chosen_liking = values.get("fan_degree"), values.get("liking")
    return {
        "state": state,
        "degree_question": words["fan_degree_question"].format(shop=shop),
        "liking_question": words["fan_liking_question"].format(shop=shop),
        "degrees": [(v.value, FAN_DEGREE_WORDS[language][v], v.value == chosen_degree) for v in FanDegree],
        "likings": [(v.value, LIKING_WORDS[language][v], v.value == chosen_liking) for v in Liking],
        "comment": values.get("comment", ""),
        "comment_max": COMMENT_MAX,
        "errors": values.get("errors") or {},
        "token": request.POST.get("token") if request.method == "POST" else request.GET.get("token", ""),
        "action": base.page_url(request, "fan-survey"),
        "thanks_body": words["fan_thanks_body"].format(shop=shop),
        "thanks_private": words["fan_thanks_private"].format(shop=shop),
    }


def _render(request: HttpRequest, language: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return base.render_page(request, "fan_survey.html", context, language=language, words=TEXTS, status=status)


@base.customer_page
def fan_survey_page(request: HttpRequest) -> HttpResponse:
    """GET: the two questions (records nothing). POST: the answer, through submitFanSurvey's service path."""
    profile = base.read_link(request, tokens.SURVEY)
    language = base.page_language(request, profile)
    if request.method != "POST":
        state = "already" if _already_answered(profile) else "form"
        return _render(request, language, _context(request, language, state))
    words = base.texts(language, TEXTS)
    fan_degree = _choice(request.POST.get("fan_degree"), FanDegree)
    liking = _choice(request.POST.get("liking"), Liking)
    comment = request.POST.get("comment", "")
    errors: dict[str, str] = {}
    if fan_degree is None:
        errors["fan_degree"] = words["fan_choose_one"]
    if liking is None:
        errors["liking"] = words["fan_choose_one"]
    if not errors:
        customer = Customer(email=profile.email, user_id=profile.user_id)
        answer = FanSurveyAnswered(customer, fan_degree, liking, timezone.now(), comment=comment)
        try:
            conveyor.record_fan_survey(answer)
        except ConveyorError as error:
            if error.code == ErrorCode.ALREADY_EXISTS:
                return _render(request, language, _context(request, language, "already"))
            if error.field != "comment":
                raise
            errors["comment"] = words["fan_comment_too_long"] if error.code == ErrorCode.OUT_OF_RANGE else error.message
        else:
            return _render(request, language, _context(request, language, "thanks"))
    context = _context(request, language, "form", fan_degree=fan_degree, liking=liking, comment=comment, errors=errors)
    return _render(request, language, context, status=400)
