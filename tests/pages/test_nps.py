"""The one-click NPS email and its landing page: scanners record nothing, the customer's choice is recorded once."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import conveyor, mail, tokens
from saleor_conveyor.conveyor.surveys import PAGE_REPLACE_WINDOW
from saleor_conveyor.errors import ConveyorError, ErrorCode
from saleor_conveyor.events import Customer, NpsAnswered
from saleor_conveyor.hosts import get_config
from saleor_conveyor.models import FanProfile, NpsResponse, Touchpoint

from ..factories import gid, touchpoint
from ..graphql.helpers import Api, snapshot
from .helpers import csrf_client, customer_with_order, nps_email, read_form, rows, score_links

pytestmark = pytest.mark.django_db

PAGE = "/survey/nps/"


def page_query(profile: FanProfile, order_id: str | None, score: int | None = None, **extra: str) -> str:
    query = {"token": tokens.make_token(profile, tokens.SURVEY), **extra}
    if order_id is not None:
        query["order"] = order_id
    if score is not None:
        query["score"] = str(score)
    return f"{PAGE}?{urlencode(query)}"


def open_and_send(client: Client, url: str, **fields: str):
    """What a customer does: open the page (cookie and form), then send the form with their changes."""
    page = client.get(url)
    assert page.status_code == 200
    form = read_form(page.content.decode())
    return client.post(PAGE, {**form.values, **form.checked, **fields})


def answers(profile: FanProfile) -> list[tuple[int, str]]:
    return list(NpsResponse.objects.filter(profile=profile).values_list("score", "comment"))


def follow_ups(profile: FanProfile) -> dict[str, str]:
    rules = ("referral", "story_video", "honesty_letter")
    return dict(Touchpoint.objects.filter(profile=profile, rule__in=rules).values_list("rule", "status"))


# --- the email ----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_nps_email_has_eleven_links_each_with_its_own_score_and_a_valid_token(language):
    profile, order = customer_with_order(language=language)
    html = nps_email(profile, str(order.pk))
    links = score_links(html)
    assert [query["score"] for _, query in links] == [str(n) for n in range(11)]
    for _, query in links:
        assert tokens.read_token(query["token"], tokens.SURVEY) == profile.pk
        assert (query["order"], query["lang"], query["survey"]) == (str(order.pk), language, "nps")
    assert len({query["token"] for _, query in links}) == 1  # one signature for the eleven
    question = "を友人や知人にすすめる可能性" if language == "ja" else "How likely are you to recommend"
    assert question in html
    assert ("まったくない" if language == "ja" else "not likely") in html
    assert "<script" not in html and "<form" not in html
    assert mail._TextMaker().feed_plain_markup(html)  # the plain-text part stays on delivery's fast path
    assert all(f"{n} ( " in mail.html_to_text(html) for n in range(11))  # and spells each score's link out


def test_other_emails_build_no_score_links():
    profile, order = customer_with_order()
    tp = touchpoint(profile, "step_day7", order_id=str(order.pk))
    html = mail.build_message(tp, profile, get_config(), "step_day7").alternatives[0][0]
    assert score_links(html) == []


# --- what a link scanner does ------------------------------------------------------------


def test_a_get_of_every_email_link_records_nothing(client):
    profile, order = customer_with_order()
    links = score_links(nps_email(profile, str(order.pk)))
    before, everything = rows(), snapshot()
    for url, query in links:
        for method in (client.get, client.head):
            response = method(url)
            assert response.status_code == 200
        page = client.get(url).content.decode()
        assert read_form(page).checked == {"score": query["score"]}  # the chosen score is selected
    legacy = client.get(f"/survey/?{urlencode({'token': links[0][1]['token'], 'survey': 'nps', 'score': '4'})}")
    assert legacy.status_code == 200 and read_form(legacy.content.decode()).checked == {"score": "4"}
    assert rows() == before == {"nps": 0, "fan": 0, "touchpoints": before["touchpoints"]}
    assert snapshot() == everything


def test_the_page_opened_from_a_link_selects_its_score_and_arms_the_confirmation(client):
    profile, order = customer_with_order()
    page = client.get(page_query(profile, str(order.pk), 7, lang="en")).content.decode()
    assert 'data-auto-confirm="1"' in page and 'value="7" checked' in page
    assert "How likely are you to recommend" in page and "event.isTrusted" in page
    bare = client.get(page_query(profile, str(order.pk), lang="en")).content.decode()
    assert 'data-auto-confirm="0"' in bare and read_form(bare).checked == {}


# --- recording -----------------------------------------------------------------------------


def test_send_records_the_score_and_comment_and_says_what_happens_next():
    profile, order = customer_with_order()
    client = csrf_client()
    response = open_and_send(client, page_query(profile, str(order.pk), 10, lang="en"), comment="Lovely tea")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-state="thanks"' in body and "personal referral code" in body
    assert answers(profile) == [(10, "Lovely tea")]
    profile.refresh_from_db()
    assert (profile.nps, profile.nps_category) == (10, "PROMOTER")


def test_a_double_submit_records_one_answer():
    profile, order = customer_with_order()
    client = csrf_client()
    page = client.get(page_query(profile, str(order.pk), 8))
    form = read_form(page.content.decode())
    for _ in range(2):
        assert client.post(PAGE, {**form.values, **form.checked, "comment": "ok"}).status_code == 200
    assert answers(profile) == [(8, "ok")]


def test_the_pages_confirmation_posts_and_a_second_choice_within_the_window_replaces_the_first():
    profile, order = customer_with_order()
    client = csrf_client()
    form = read_form(client.get(page_query(profile, str(order.pk), 3)).content.decode())
    automatic = client.post(PAGE, {**form.values, "score": "3", "confirm": "auto"})
    assert automatic.status_code == 200 and automatic.json()["recorded"] is True
    assert follow_ups(profile) == {"honesty_letter": "SCHEDULED"}
    first = NpsResponse.objects.get(profile=profile)
    letter = Touchpoint.objects.get(profile=profile, rule="honesty_letter")
    assert letter.due_at == first.created_at + PAGE_REPLACE_WINDOW  # waits while the answer may change

    response = client.post(PAGE, {**form.values, "score": "9", "comment": "Actually great"})
    assert response.status_code == 200 and 'data-state="thanks"' in response.content.decode()
    assert answers(profile) == [(9, "Actually great")]
    assert NpsResponse.objects.get(profile=profile).created_at == first.created_at
    profile.refresh_from_db()
    assert (profile.nps, profile.nps_category) == (9, "PROMOTER")
    assert follow_ups(profile) == {"honesty_letter": "CANCELLED", "referral": "SCHEDULED"}


def test_after_the_window_a_second_choice_is_already_answered_and_changes_nothing():
    profile, order = customer_with_order()
    client = csrf_client()
    url = page_query(profile, str(order.pk), 7, lang="en")
    form = read_form(client.get(url).content.decode())  # a tab left open past the window
    assert client.post(PAGE, {**form.values, **form.checked}).status_code == 200
    with freeze_time(timezone.now() + PAGE_REPLACE_WINDOW + timedelta(seconds=1)):
        everything = snapshot()
        page = client.get(url).content.decode()
        assert 'data-state="already"' in page and "<form" not in page and "You have already answered" in page
        for extra in ({}, {"confirm": "auto"}):
            response = client.post(PAGE, {**form.values, "score": "9", **extra})
            assert response.status_code in (200, 409)
            assert "already" in response.content.decode()
        assert snapshot() == everything
    assert answers(profile) == [(7, "")]


def test_reopening_the_link_within_the_window_keeps_the_comment_for_the_re_post(client):
    profile, order = customer_with_order()
    open_and_send(csrf_client(), page_query(profile, str(order.pk), 6), comment="Slow delivery")
    page = client.get(page_query(profile, str(order.pk), 6)).content.decode()
    assert "Slow delivery</textarea>" in page and 'data-recorded="6"' in page


# --- the service's rule, and the API's ---------------------------------------------------------


def test_the_api_keeps_already_exists_for_a_second_answer_even_within_the_window():
    profile, order = customer_with_order()
    open_and_send(csrf_client(), page_query(profile, str(order.pk), 3))
    everything = snapshot()
    token = tokens.make_token(profile, tokens.SURVEY)
    query = "mutation($t: String, $o: ID) { submitNps(token: $t, orderId: $o, score: 9) { errors { code } } }"
    answer = Api()(query, {"t": token, "o": gid("Order", order.pk)})
    assert [e["code"] for e in answer.payload("submitNps")["errors"]] == ["ALREADY_EXISTS"]
    assert snapshot() == everything


def test_an_api_answer_cannot_be_replaced_by_the_page():
    profile, order = customer_with_order()
    who = Customer(email=profile.email, user_id=profile.user_id)
    conveyor.record_nps(NpsAnswered(who, 2, timezone.now(), order_id=str(order.pk)))
    with pytest.raises(ConveyorError) as error:
        conveyor.record_nps(
            NpsAnswered(who, 9, timezone.now(), order_id=str(order.pk)), replace_within=PAGE_REPLACE_WINDOW
        )
    assert error.value.code is ErrorCode.ALREADY_EXISTS
    assert answers(profile) == [(2, "")]
    letter = Touchpoint.objects.get(profile=profile, rule="honesty_letter")
    assert letter.due_at == NpsResponse.objects.get(profile=profile).created_at  # the API's: final at once


def test_a_replacement_to_a_passive_score_plans_the_passives_follow_up():
    profile, order = customer_with_order()
    who = Customer(email=profile.email, user_id=profile.user_id)
    now = timezone.now()
    window = PAGE_REPLACE_WINDOW
    conveyor.record_nps(NpsAnswered(who, 10, now, order_id=str(order.pk)), now=now, replace_within=window)
    assert follow_ups(profile) == {"referral": "SCHEDULED"}
    later = now + timedelta(minutes=5)
    conveyor.record_nps(NpsAnswered(who, 7, later, order_id=str(order.pk)), now=later, replace_within=window)
    assert follow_ups(profile) == {"referral": "CANCELLED", "story_video": "SCHEDULED"}
    rebuilt = conveyor.rebuild_profile(profile.pk, now=later)  # the ledger's replan agrees with the live one
    assert rebuilt.scheduled == [] and follow_ups(profile) == {"referral": "CANCELLED", "story_video": "SCHEDULED"}


# --- refusals -------------------------------------------------------------------------------


def bad_links(profile: FanProfile) -> dict[str, str]:
    good = tokens.make_token(profile, tokens.SURVEY)
    with freeze_time(timezone.now() - tokens.MAX_AGE[tokens.SURVEY] - timedelta(days=1)):
        expired = tokens.make_token(profile, tokens.SURVEY)
    return {
        "forged": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "expired": expired,
        "wrong-purpose": tokens.make_token(profile, tokens.UNSUBSCRIBE),
    }


@pytest.mark.parametrize("kind", ["forged", "expired", "wrong-purpose"])
def test_a_bad_link_shows_the_clear_page_and_writes_nothing(kind):
    profile, order = customer_with_order()
    client = csrf_client()
    good_form = read_form(client.get(page_query(profile, str(order.pk), 5)).content.decode())
    token = bad_links(profile)[kind]
    before, everything = rows(), snapshot()
    for response in (
        client.get(f"{PAGE}?{urlencode({'token': token, 'order': order.pk, 'score': 5})}"),
        client.post(PAGE, {**good_form.values, "token": token, "score": "5"}),
        client.post(PAGE, {**good_form.values, "token": token, "score": "5", "confirm": "auto"}),
    ):
        assert response.status_code == 400
        page = response.content.decode()
        expected = "link_expired" if kind == "expired" else "link_invalid"
        assert f'data-refused="{expected}"' in page and "Traceback" not in page
    assert rows() == before and snapshot() == everything


def test_a_cross_site_post_without_the_csrf_token_is_refused_and_writes_nothing():
    profile, order = customer_with_order()
    client = csrf_client()
    form = read_form(client.get(page_query(profile, str(order.pk), 5)).content.decode())
    before, everything = rows(), snapshot()
    stripped = {key: value for key, value in form.values.items() if key != "csrfmiddlewaretoken"}
    refused = [
        client.post(PAGE, {**stripped, "score": "5"}),  # the cookie alone
        Client(enforce_csrf_checks=True).post(PAGE, {**form.values, "score": "5"}),  # another site's form, no cookie
        client.post(PAGE, {**form.values, "score": "5"}, HTTP_ORIGIN="https://evil.example"),
    ]
    for response in refused:
        assert response.status_code == 403 and 'data-refused="csrf"' in response.content.decode()
    assert rows() == before and snapshot() == everything


def test_an_order_of_another_customer_is_refused_and_writes_nothing():
    profile, _order = customer_with_order()
    _other, others_order = customer_with_order("taro@example.com")
    client = csrf_client()
    before = rows()
    response = open_and_send(client, page_query(profile, str(others_order.pk), 9))
    assert response.status_code == 400 and 'data-refused="link_invalid"' in response.content.decode()
    assert rows() == before


@pytest.mark.parametrize(
    ("fields", "status", "marker"),
    [
        ({"score": "11"}, 400, 'id="score-error"'),
        ({"score": "-1"}, 400, 'id="score-error"'),
        ({"score": "٣"}, 400, 'id="score-error"'),  # a digit, but not 0-9
        ({"score": ""}, 400, 'id="score-error"'),
        ({"score": "5", "comment": "x" * 2001}, 400, 'id="comment-error"'),
        ({"score": "5", "comment": "a\x00b"}, 400, 'data-refused="bad_input"'),
        ({"score": "5", "comment": "x" * 20_000}, 400, 'data-refused="bad_input"'),
    ],
    ids=["eleven", "negative", "arabic-digit", "empty", "long-comment", "nul", "huge"],
)
def test_unreadable_answers_are_refused_beside_their_field_and_write_nothing(fields, status, marker):
    profile, order = customer_with_order()
    client = csrf_client()
    form = read_form(client.get(page_query(profile, str(order.pk))).content.decode())
    before = rows()
    response = client.post(PAGE, {**form.values, **fields})
    assert response.status_code == status and marker in response.content.decode()
    assert rows() == before


def test_a_refused_answer_is_explained_in_japanese():
    profile, order = customer_with_order(language="ja")
    client = csrf_client()
    form = read_form(client.get(page_query(profile, str(order.pk))).content.decode())
    page = client.post(PAGE, {**form.values, "score": "5", "comment": "x" * 2001}).content.decode()
    assert "コメントは2,000文字以内でお願いします。" in page and 'lang="ja"' in page


def test_an_unknown_survey_kind_is_the_pages_404(client):
    profile, _order = customer_with_order()
    token = tokens.make_token(profile, tokens.SURVEY)
    assert client.get(f"/survey/?{urlencode({'token': token, 'survey': 'other'})}").status_code == 404
