"""Signed email-link tokens: one customer, one purpose, an expiry; anything else is INVALID_TOKEN."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import tokens
from saleor_conveyor.errors import ConveyorError, ErrorCode
from saleor_conveyor.models import FanProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile() -> FanProfile:
    return FanProfile.objects.create(email="hanako@example.com")


def refused(token: object, purpose: str) -> ConveyorError:
    with pytest.raises(ConveyorError) as caught:
        tokens.read_token(token, purpose)
    assert caught.value.code is ErrorCode.INVALID_TOKEN and caught.value.field == "token"
    return caught.value


def test_a_token_names_its_customer_for_its_purpose(profile):
    assert tokens.read_token(tokens.make_token(profile, tokens.SURVEY), tokens.SURVEY) == profile.pk
    assert tokens.profile_for_token(tokens.make_token(profile.pk, tokens.UNSUBSCRIBE), tokens.UNSUBSCRIBE) == profile


def test_a_token_for_one_purpose_is_useless_for_another(profile):
    refused(tokens.make_token(profile, tokens.SURVEY), tokens.UNSUBSCRIBE)
    refused(tokens.make_token(profile, tokens.UNSUBSCRIBE), tokens.SURVEY)


def test_a_token_expires_with_its_purposes_lifetime(profile):
    with freeze_time(timezone.now() - tokens.MAX_AGE[tokens.SURVEY] + timedelta(minutes=5)):
        fresh_enough = tokens.make_token(profile, tokens.SURVEY)
    with freeze_time(timezone.now() - tokens.MAX_AGE[tokens.SURVEY] - timedelta(minutes=5)):
        too_old = tokens.make_token(profile, tokens.SURVEY)
    assert tokens.read_token(fresh_enough, tokens.SURVEY) == profile.pk
    assert "expired" in refused(too_old, tokens.SURVEY).message


def test_a_changed_customer_id_breaks_the_signature(profile):
    token = tokens.make_token(profile, tokens.SURVEY)
    other = tokens.make_token(profile.pk + 1, tokens.SURVEY)
    spliced = other.split(":")[0] + ":" + ":".join(token.split(":")[1:])
    refused(spliced, tokens.SURVEY)


@pytest.mark.parametrize("token", ["", None, 42, "abc", "x" * 600, "eyJwIjoxfQ:1abc:def"])
def test_garbage_is_refused(token):
    refused(token, tokens.SURVEY)


def test_a_token_of_a_deleted_customer_is_refused(profile):
    token = tokens.make_token(profile, tokens.SURVEY)
    profile.delete()
    with pytest.raises(ConveyorError) as caught:
        tokens.profile_for_token(token, tokens.SURVEY)
    assert caught.value.code is ErrorCode.INVALID_TOKEN


def test_link_builds_the_storefront_url_with_the_token(profile, settings):
    settings.CONVEYOR = {**settings.CONVEYOR, "storefront_pages": True}
    url = tokens.link(profile, tokens.SURVEY, order="T3JkZXI6MQ==")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://localhost:3000/conveyor/survey"
    query = parse_qs(parts.query)
    assert query["order"] == ["T3JkZXI6MQ=="]
    assert tokens.read_token(query["token"][0], tokens.SURVEY) == profile.pk


def test_link_opens_the_plugins_own_page_unless_the_storefront_serves_the_pages(profile, settings):
    settings.CONVEYOR_PUBLIC_URL = "https://api.shop.example"
    url = tokens.link(profile, tokens.SURVEY, page="survey/nps/", order="T3JkZXI6MQ==", score="9")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://api.shop.example/survey/nps/"
    query = parse_qs(parts.query)
    assert query["score"] == ["9"] and query["order"] == ["T3JkZXI6MQ=="]
    assert tokens.read_token(query["token"][0], tokens.SURVEY) == profile.pk
    unsubscribe = urlsplit(tokens.link(profile, tokens.UNSUBSCRIBE))
    assert unsubscribe.path == "/preferences/"


def test_an_unknown_purpose_is_a_programming_error(profile):
    with pytest.raises(ValueError):
        tokens.make_token(profile, "newsletter")


def test_a_return_token_names_its_customer_and_one_order(profile):
    token = tokens.make_token(profile, tokens.RETURN, order_id="order-a")
    assert tokens.read_claims(token, tokens.RETURN) == tokens.Claims(profile.pk, "order-a")
    assert tokens.read_token(token, tokens.RETURN) == profile.pk
    refused(token, tokens.SURVEY)
    refused(token, tokens.UNSUBSCRIBE)
    refused(tokens.make_token(profile, tokens.SURVEY), tokens.RETURN)


def test_a_return_token_must_name_an_order_and_others_must_not():
    with pytest.raises(ValueError):
        tokens.make_token(1, tokens.RETURN)
    with pytest.raises(ValueError):
        tokens.make_token(1, tokens.SURVEY, order_id="order-a")


def test_a_return_token_with_a_changed_order_breaks_the_signature(profile):
    token = tokens.make_token(profile, tokens.RETURN, order_id="order-a")
    other = tokens.make_token(profile, tokens.RETURN, order_id="order-b")
    refused(other.split(":")[0] + ":" + ":".join(token.split(":")[1:]), tokens.RETURN)


def test_a_return_link_lives_as_long_as_the_return_window_and_a_margin(profile, settings):
    assert tokens.max_age(tokens.RETURN) == tokens.MAX_AGE[tokens.RETURN]  # 30 days + 30 is the 60-day floor
    settings.CONVEYOR = {**settings.CONVEYOR, "return_window_days": 90}
    assert tokens.max_age(tokens.RETURN) == timedelta(days=90) + tokens.RETURN_MARGIN
    with freeze_time(timezone.now() - timedelta(days=100)):
        old = tokens.make_token(profile, tokens.RETURN, order_id="order-a")
    assert tokens.read_token(old, tokens.RETURN) == profile.pk
    with freeze_time(timezone.now() - timedelta(days=121)):
        older = tokens.make_token(profile, tokens.RETURN, order_id="order-a")
    assert "expired" in refused(older, tokens.RETURN).message


@pytest.mark.parametrize("order_id", [None, "", 7, "two words", "x" * 65])
def test_a_return_token_signed_over_a_bad_order_id_is_refused(profile, order_id):
    from django.core import signing

    data = {"p": profile.pk} if order_id is None else {"p": profile.pk, "o": order_id}
    refused(signing.dumps(data, salt="saleor_conveyor.token.return", compress=False), tokens.RETURN)
