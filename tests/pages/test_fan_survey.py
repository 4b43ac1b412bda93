"""The fan-degree survey page: two questions on one screen, recorded as submitFanSurvey records them, once."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import mail, tokens
from saleor_conveyor.hosts import get_config
from saleor_conveyor.models import FanProfile, FanSurveyResponse

from ..factories import touchpoint
from ..graphql.helpers import Api, snapshot
from .helpers import csrf_client, customer_with_order, links_of, read_form, rows

pytestmark = pytest.mark.django_db

PAGE = "/survey/fan/"


def page_url(profile: FanProfile, **extra: str) -> str:
    return f"{PAGE}?{urlencode({'token': tokens.make_token(profile, tokens.SURVEY), **extra})}"


def answers(profile: FanProfile) -> list[tuple[str, str, str]]:
    return list(FanSurveyResponse.objects.filter(profile=profile).values_list("fan_degree", "liking", "comment"))


def test_the_fan_survey_emails_link_opens_the_page_and_a_get_records_nothing(client):
    profile, _order = customer_with_order()
    message = mail.build_message(touchpoint(profile, "fan_survey"), profile, get_config(), "fan_survey")
    html = message.alternatives[0][0]
    (survey_link,) = [href for href, _ in links_of(html) if "/survey/fan/" in href]
    before, everything = rows(), snapshot()
    for method in (client.get, client.head):
        assert method(survey_link).status_code == 200
    legacy = f"/survey/?{urlencode({'token': tokens.make_token(profile, tokens.SURVEY), 'survey': 'fan'})}"
    assert 'id="fan-form"' in client.get(legacy).content.decode()
    assert rows() == before and snapshot() == everything


@pytest.mark.parametrize(
    ("language", "degree_words", "liking_words"),
    [
        ("ja", "もはや人生の一部、未来を共に創っていきたい!", "愛があると言えるほど大好き"),
        ("en", "Part of my life, want to build the future together", "I neither like nor dislike it"),
    ],
)
def test_the_page_asks_the_methods_two_questions_in_the_customers_language(
    client, language, degree_words, liking_words
):
    profile, _order = customer_with_order(language=language)
    page = client.get(page_url(profile)).content.decode()
    assert page.count('name="fan_degree"') == 6 and page.count('name="liking"') == 7
    assert degree_words in page and liking_words in page and f'lang="{language}"' in page
    question = "に対するお気持ちに最も近いものはどれですか" if language == "ja" else "Which best describes how you feel"
    assert question in page


def send(client, profile: FanProfile, **fields: str):
    form = read_form(client.get(page_url(profile, lang="en")).content.decode())
    return client.post(PAGE, {**form.values, **fields})


def test_send_records_the_answer_on_the_grid_and_says_what_happens_next():
    profile, _order = customer_with_order()
    response = send(csrf_client(), profile, fan_degree="WANT_TO_HELP", liking="LOVE", comment="More green tea")
    body = response.content.decode()
    assert response.status_code == 200 and 'data-state="thanks"' in body and "We will use your answers" in body
    assert answers(profile) == [("WANT_TO_HELP", "LOVE", "More green tea")]
    profile.refresh_from_db()
    assert (profile.fan_degree, profile.liking, profile.segment) == ("WANT_TO_HELP", "LOVE", "HIGH/HIGH")


def test_a_double_submit_records_one_answer_and_the_second_shows_already_answered_in_japanese():
    profile, _order = customer_with_order(language="ja")
    client = csrf_client()
    form = read_form(client.get(page_url(profile)).content.decode())
    first = client.post(PAGE, {**form.values, "fan_degree": "NEW_FAN", "liking": "LIKE"})
    second = client.post(PAGE, {**form.values, "fan_degree": "NEW_FAN", "liking": "LIKE"})
    assert 'data-state="thanks"' in first.content.decode()
    assert "すでにご回答いただいています" in second.content.decode()
    assert answers(profile) == [("NEW_FAN", "LIKE", "")]
    assert "すでにご回答いただいています" in client.get(page_url(profile)).content.decode()


def test_an_answer_given_through_the_api_shows_already_answered_on_the_page(client):
    profile, _order = customer_with_order()
    token = tokens.make_token(profile, tokens.SURVEY)
    query = "mutation($t: String) { submitFanSurvey(token: $t, fanDegree: NEW_FAN, liking: LIKE) { errors { code } } }"
    assert Api()(query, {"t": token}).payload("submitFanSurvey")["errors"] == []
    assert "You have already answered" in client.get(page_url(profile, lang="en")).content.decode()


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({}, ['id="fan-degree-error"', 'id="liking-error"']),
        ({"fan_degree": "NEW_FAN"}, ['id="liking-error"']),
        ({"fan_degree": "new_fan", "liking": "LIKE"}, ['id="fan-degree-error"']),
        ({"fan_degree": "NEW_FAN", "liking": "__class__"}, ['id="liking-error"']),
        ({"fan_degree": "NEW_FAN", "liking": "LIKE", "comment": "x" * 2001}, ['id="comment-error"']),
    ],
    ids=["nothing", "no-liking", "lower-case", "dunder", "long-comment"],
)
def test_a_missing_or_unknown_answer_is_shown_beside_its_question_and_nothing_is_written(fields, errors):
    profile, _order = customer_with_order()
    client = csrf_client()
    before = rows()
    response = send(client, profile, **fields)
    assert response.status_code == 400
    for marker in errors:
        assert marker in response.content.decode()
    assert rows() == before


@pytest.mark.parametrize("kind", ["forged", "expired", "wrong-purpose"])
def test_a_bad_link_shows_the_clear_page_and_writes_nothing(kind):
    profile, _order = customer_with_order()
    client = csrf_client()
    form = read_form(client.get(page_url(profile)).content.decode())
    good = tokens.make_token(profile, tokens.SURVEY)
    with freeze_time(timezone.now() - tokens.MAX_AGE[tokens.SURVEY] - timedelta(days=1)):
        expired = tokens.make_token(profile, tokens.SURVEY)
    token = {"forged": good[:-3] + ("xyz" if not good.endswith("xyz") else "abc"), "expired": expired}.get(
        kind, tokens.make_token(profile, tokens.UNSUBSCRIBE)
    )
    before = rows()
    for response in (
        client.get(f"{PAGE}?{urlencode({'token': token})}"),
        client.post(PAGE, {**form.values, "token": token, "fan_degree": "NEW_FAN", "liking": "LIKE"}),
    ):
        expected = "link_expired" if kind == "expired" else "link_invalid"
        assert response.status_code == 400 and f'data-refused="{expected}"' in response.content.decode()
    assert rows() == before


def test_a_cross_site_post_without_the_csrf_token_is_refused_and_writes_nothing():
    profile, _order = customer_with_order()
    before = rows()
    token = tokens.make_token(profile, tokens.SURVEY)
    response = csrf_client().post(PAGE, {"token": token, "fan_degree": "NEW_FAN", "liking": "LIKE"})
    assert response.status_code == 403 and 'data-refused="csrf"' in response.content.decode()
    assert rows() == before
