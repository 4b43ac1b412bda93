"""The return request page: a signed link (or a signed-in customer) for one order, the requestReturn rules,
errors beside their field, the request's status afterwards; every refusal writes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import conveyor, tokens
from saleor_conveyor.events import ReturnLineRequested, ReturnRequested
from saleor_conveyor.hosts import get_config
from saleor_conveyor.mail import build_message
from saleor_conveyor.models import FanProfile, ReturnLine, ReturnRequest, ReturnStatus

from ..factories import customer, gid, shop_order, touchpoint
from ..graphql.helpers import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def hanako(django_user_model):
    return django_user_model.objects.create_user(username="hanako", email="hanako@example.com", password="x")


@pytest.fixture
def taro(django_user_model):
    return django_user_model.objects.create_user(username="taro", email="taro@example.com", password="x")


def shipped(user, lines=(("Green tea", 3, 2), ("Tea cup", 1, 1), ("Teapot", 1, 0)), days_ago: float = 2):
    now = timezone.now()
    return shop_order(
        user, lines, placed_at=now - timedelta(days=days_ago + 1), fulfilled_at=now - timedelta(days=days_ago)
    )


def return_path(user, shop_order, **query) -> str:
    profile = FanProfile.objects.get(user=user)
    token = tokens.make_token(profile, tokens.RETURN, order_id=str(shop_order.pk))
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    return f"/returns/?token={token}{extra}"


def line_of(order, name: str):
    return order.lines.get(product_name=name)


def form_of(client: Client, path: str) -> dict[str, str]:
    """GET the page and the hidden fields of its form (CSRF token, link token, language)."""
    page = client.get(path)
    assert page.status_code == 200, page.content
    html = page.content.decode()
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


def post(client: Client, path: str, **fields):
    return client.post(path.split("?")[0], {**form_of(client, path), **fields})


def rows() -> tuple[int, int]:
    return ReturnRequest.objects.count(), ReturnLine.objects.count()


def test_the_emailed_link_shows_shipped_lines_with_what_is_still_returnable_and_writes_nothing(hanako):
    order = shipped(hanako)
    before = snapshot()
    page = Client().get(return_path(hanako, order, lang="en"))
    html = page.content.decode()
    assert page.status_code == 200 and 'data-state="form"' in html
    assert f'name="quantity-{line_of(order, "Green tea").pk}"' in html and "2 shipped; you can return up to 2." in html
    assert f'name="quantity-{line_of(order, "Tea cup").pk}"' in html
    assert "Teapot" not in html  # nothing of it has shipped
    for reason in ("DAMAGED", "WRONG_ITEM", "NOT_AS_DESCRIBED", "CHANGED_MIND", "OTHER"):
        assert f'value="{reason}"' in html
    assert snapshot() == before


def test_a_customer_requests_a_return_from_the_page_and_then_sees_its_status(hanako):
    order = shipped(hanako)
    client = Client(enforce_csrf_checks=True)
    path = return_path(hanako, order, lang="ja")
    tea = line_of(order, "Green tea")
    answer = post(client, path, **{f"quantity-{tea.pk}": "1", "reason": "DAMAGED", "comment": "箱がつぶれていました"})
    assert answer.status_code == 303
    asked = ReturnRequest.objects.get()
    assert (asked.status, asked.reason, asked.comment) == (ReturnStatus.REQUESTED, "DAMAGED", "箱がつぶれていました")
    assert list(asked.lines.values_list("order_line_id", "quantity")) == [(str(tea.pk), 1)]
    after = client.get(answer["Location"]).content.decode()
    assert "返品のお申し込みを受け付けました" in after and 'data-status="REQUESTED"' in after and "確認中" in after
    assert "発送済み 2 点のうち、返品できるのは 1 点です。" in after  # the request counts against what is left
    conveyor.decide_return(str(asked.pk), approve=True)
    reopened = Client().get(path).content.decode()
    assert 'data-status="APPROVED"' in reopened


def test_a_return_link_for_one_order_does_not_open_another(hanako, taro):
    mine, theirs = shipped(hanako), shipped(taro)
    profile = FanProfile.objects.get(user=hanako)
    forged_pair = tokens.make_token(profile, tokens.RETURN, order_id=str(theirs.pk))  # signed, but not her order
    before = snapshot()
    page = Client().get(f"/returns/?token={forged_pair}")
    assert page.status_code == 404 and 'data-state="not_found"' in page.content.decode()
    assert "Green tea" not in page.content.decode()
    answer = Client().post(
        "/returns/",
        {"token": forged_pair, f"quantity-{line_of(theirs, 'Green tea').pk}": "1", "reason": "DAMAGED"},
    )
    assert answer.status_code == 404 and snapshot() == before
    # The order the link names wins over one in the query: her link shows her order only.
    html = Client().get(return_path(hanako, mine, order=gid("Order", theirs.pk))).content.decode()
    assert str(line_of(mine, "Green tea").pk) in html and str(line_of(theirs, "Green tea").pk) not in html


@pytest.mark.parametrize("purpose", [tokens.SURVEY, tokens.UNSUBSCRIBE])
def test_a_survey_or_unsubscribe_token_does_not_open_the_return_page(hanako, purpose):
    shipped(hanako)
    token = tokens.make_token(FanProfile.objects.get(user=hanako), purpose)
    before = snapshot()
    page = Client().get(f"/returns/?token={token}&lang=en")
    assert page.status_code == 400 and 'data-refused="link_invalid"' in page.content.decode()
    assert snapshot() == before


def test_forged_and_expired_return_links_get_a_clear_page_and_write_nothing(hanako):
    order = shipped(hanako)
    profile = FanProfile.objects.get(user=hanako)
    with freeze_time(timezone.now() - tokens.max_age(tokens.RETURN) - timedelta(hours=1)):
        expired = tokens.make_token(profile, tokens.RETURN, order_id=str(order.pk))
    good = tokens.make_token(profile, tokens.RETURN, order_id=str(order.pk))
    before = snapshot()
    for token, kind in ((expired, "link_expired"), (good[:-2] + "xx", "link_invalid"), ("garbage", "link_invalid")):
        for answer in (
            Client().get(f"/returns/?token={token}&lang=ja"),
            Client().post("/returns/", {"token": token, "reason": "DAMAGED"}),
        ):
            assert answer.status_code in (400, 403) and "Traceback" not in answer.content.decode()
        page = Client().get(f"/returns/?token={token}&lang=ja")
        assert f'data-refused="{kind}"' in page.content.decode()
    assert snapshot() == before


def test_a_cross_site_post_without_the_csrf_token_is_refused_and_writes_nothing(hanako):
    order = shipped(hanako)
    client = Client(enforce_csrf_checks=True)
    fields = form_of(client, return_path(hanako, order))
    del fields["csrfmiddlewaretoken"]
    before = rows()
    answer = client.post(
        "/returns/",
        {**fields, f"quantity-{line_of(order, 'Green tea').pk}": "1", "reason": "DAMAGED"},
        HTTP_ORIGIN="https://evil.example",
    )
    assert answer.status_code == 403 and 'data-refused="csrf"' in answer.content.decode()
    assert rows() == before


def test_asking_for_more_than_is_left_shows_the_error_beside_the_line_in_japanese(hanako):
    order = shipped(hanako)
    tea = line_of(order, "Green tea")
    path = return_path(hanako, order, lang="ja")
    client = Client()
    fields = form_of(client, path)  # the page as it was before another request took one
    ask = ReturnRequested(
        customer("hanako@example.com", hanako.pk), str(order.pk), (ReturnLineRequested(str(tea.pk), 1),), "OTHER"
    )
    conveyor.request_return(
        ask, order=conveyor.order_for_return(ask.order_id, ask.customer), window_days=conveyor.return_window_days()
    )
    before = snapshot()
    answer = client.post("/returns/", {**fields, f"quantity-{tea.pk}": "2", "reason": "DAMAGED"})
    html = answer.content.decode()
    assert answer.status_code == 400 and 'data-error="line"' in html and "返品できるのは最大 1 点です。" in html
    assert f'id="error-{tea.pk}"' in html and f'aria-describedby="hint-{tea.pk} error-{tea.pk}"' in html
    assert snapshot() == before


@pytest.mark.parametrize(
    "fields, error, words",
    [
        ({"reason": "DAMAGED"}, "lines", "返品する商品の数量を1点以上お選びください。"),
        ({"quantity": "1"}, "reason", "返品の理由をお選びください。"),
        ({"quantity": "1", "reason": "BROKEN"}, "reason", "返品の理由をお選びください。"),
        ({"quantity": "one", "reason": "DAMAGED"}, "line", "数量は整数で入力してください。"),
        ({"quantity": "1", "reason": "DAMAGED", "comment": "x" * 2001}, "comment", "2,000文字以内でご記入ください。"),
    ],
    ids=["no-line", "no-reason", "unknown-reason", "not-a-number", "comment-too-long"],
)
def test_a_refused_request_shows_its_error_beside_the_field_and_writes_nothing(hanako, fields, error, words):
    order = shipped(hanako)
    tea = line_of(order, "Green tea")
    if "quantity" in fields:
        fields = {**fields, f"quantity-{tea.pk}": fields.pop("quantity")}
    before = snapshot()
    answer = post(Client(), return_path(hanako, order, lang="ja"), **fields)
    html = answer.content.decode()
    assert answer.status_code == 400 and f'data-error="{error}"' in html and words in html
    assert snapshot() == before


def test_outside_the_return_window_the_page_says_so_and_a_late_post_writes_nothing(hanako, settings):
    order = shipped(hanako, days_ago=40)
    tea = line_of(order, "Green tea")
    path = return_path(hanako, order, lang="en")
    page = Client().get(path).content.decode()
    assert 'data-reason="window_closed"' in page and "within 30 days" in page and "<form" not in page
    before = snapshot()
    token = parse_qs(urlsplit(path).query)["token"][0]  # a page kept open from before the window closed
    answer = Client().post("/returns/", {"token": token, f"quantity-{tea.pk}": "1", "reason": "DAMAGED", "lang": "en"})
    assert answer.status_code == 400 and "within 30 days" in answer.content.decode()
    assert snapshot() == before


def test_a_nul_byte_in_the_comment_is_refused_and_writes_nothing(hanako):
    order = shipped(hanako)
    before = snapshot()
    answer = post(
        Client(),
        return_path(hanako, order),
        **{f"quantity-{line_of(order, 'Green tea').pk}": "1", "reason": "DAMAGED", "comment": "a\x00b"},
    )
    assert answer.status_code == 400 and 'data-refused="bad_input"' in answer.content.decode()
    assert snapshot() == before


def test_a_signed_in_customer_opens_their_order_and_someone_elses_is_not_found(hanako, taro):
    mine, theirs = shipped(hanako), shipped(taro)
    client = Client(enforce_csrf_checks=True)
    client.force_login(hanako)
    html = client.get(f"/returns/?order={gid('Order', mine.pk)}").content.decode()
    assert 'data-state="form"' in html and str(line_of(mine, "Green tea").pk) in html
    assert 'data-state="form"' in client.get(f"/returns/?order={mine.pk}").content.decode()  # the host's own id too
    not_mine = client.get(f"/returns/?order={gid('Order', theirs.pk)}")
    assert not_mine.status_code == 404 and 'data-state="not_found"' in not_mine.content.decode()
    before = snapshot()
    answer = post(
        client,
        f"/returns/?order={gid('Order', mine.pk)}",
        order=gid("Order", theirs.pk),
        **{f"quantity-{line_of(theirs, 'Green tea').pk}": "1", "reason": "DAMAGED"},
    )
    assert answer.status_code == 404 and snapshot() == before
    answer = post(
        client,
        f"/returns/?order={gid('Order', mine.pk)}",
        **{f"quantity-{line_of(mine, 'Tea cup').pk}": "1", "reason": "OTHER"},
    )
    assert answer.status_code == 303 and ReturnRequest.objects.get().purchase.order_id == str(mine.pk)


def test_without_a_link_or_a_sign_in_the_page_says_how_to_get_there():
    page = Client().get("/returns/?lang=en")
    assert page.status_code == 200 and 'data-state="sign_in"' in page.content.decode()


def test_a_guest_customers_link_points_to_the_contact_form(hanako):
    guest = FanProfile.objects.create(email="guest@example.com")
    token = tokens.make_token(guest, tokens.RETURN, order_id="order-1")
    page = Client().get(f"/returns/?token={token}&lang=en").content.decode()
    assert 'data-state="no_account"' in page and 'href="/inquiry/?lang=en"' in page


def test_the_nps_email_after_shipment_carries_a_return_link_for_that_order(hanako, settings):
    settings.CONVEYOR_PUBLIC_URL = "https://conveyor.example"
    order = shipped(hanako)
    profile = FanProfile.objects.get(user=hanako)
    for language in ("ja", "en"):
        profile.language_code = language
        message = build_message(
            touchpoint(profile, "nps_survey", order_id=str(order.pk)), profile, get_config(), "nps_survey"
        )
        html = message.alternatives[0][0]
        url = unescape(re.search(r'href="(https://conveyor\.example/returns/\?[^"]+)"', html).group(1))
        claims = tokens.read_claims(parse_qs(urlsplit(url).query)["token"][0], tokens.RETURN)
        assert (claims.profile_id, claims.order_id) == (profile.pk, str(order.pk))


def test_emails_that_do_not_show_the_return_link_do_not_make_one(hanako, monkeypatch):
    order = shipped(hanako)
    profile = FanProfile.objects.get(user=hanako)
    made: list[str] = []
    real = tokens.make_token
    monkeypatch.setattr(tokens, "make_token", lambda *a, **k: made.append(a[1]) or real(*a, **k))
    build_message(touchpoint(profile, "step_day7", order_id=str(order.pk)), profile, get_config(), "step_day7")
    assert made and tokens.RETURN not in made
    build_message(touchpoint(profile, "nps_survey"), profile, get_config(), "nps_survey")  # no order: no link
    assert tokens.RETURN not in made


def test_a_guest_gets_no_return_link_because_only_accounts_can_request_returns():
    guest = FanProfile.objects.create(email="guest@example.com")
    message = build_message(touchpoint(guest, "nps_survey", order_id="order-1"), guest, get_config(), "nps_survey")
    assert "/returns/" not in message.alternatives[0][0]
