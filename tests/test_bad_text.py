"""The service's own inputs (Saleor hooks, backfill) with text no column can hold: refused or cleaned, never a crash."""

from __future__ import annotations

import dataclasses

import pytest

from saleor_conveyor import conveyor
from saleor_conveyor.errors import ConveyorError, ErrorCode
from saleor_conveyor.events import (
    InquirySubmitted,
    NpsAnswered,
    client_address_or_none,
    normalize_email,
    storable,
)
from saleor_conveyor.models import FanProfile, Inquiry, Purchase

from .factories import T0, customer, placed

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_id(django_user_model) -> int:
    return django_user_model.objects.create_user(username="hanako", email="hanako@example.com").pk


BAD = ["\x00", "\ud800", "\udfff"]


@pytest.mark.parametrize("bad", BAD)
def test_a_hooks_first_name_with_bad_text_is_cleaned_and_the_order_recorded(bad, user_id):
    who = customer("hanako@example.com", user_id=user_id, first_name=f"Ha{bad}nako", language_code=f"j{bad}a")
    conveyor.record_order_placed(placed("order-1", who=who), now=T0)
    profile = FanProfile.objects.get()
    assert profile.first_name == "Hanako" and profile.language_code == "ja"
    assert Purchase.objects.get().order_id == "order-1"


def test_an_order_number_with_bad_text_is_cleaned():
    conveyor.record_order_placed(dataclasses.replace(placed("order-1"), order_number="10\x0001"), now=T0)
    assert Purchase.objects.get().order_number == "1001"


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(
    "build, field",
    [
        (lambda bad: placed(f"order{bad}1"), "order_id"),
        (lambda bad: placed("order-1", channel=f"default{bad}"), "channel"),
        (lambda bad: placed("order-1", who=customer(f"hana{bad}ko@example.com")), "email"),
    ],
)
def test_an_order_whose_identity_holds_bad_text_is_refused_and_writes_nothing(build, field, bad):
    with pytest.raises(ConveyorError) as refused:
        conveyor.record_order_placed(build(bad), now=T0)
    assert (refused.value.field, refused.value.code) == (field, ErrorCode.INVALID)
    assert not FanProfile.objects.exists() and not Purchase.objects.exists()


@pytest.mark.parametrize("bad", BAD)
def test_a_link_customer_hook_with_a_bad_first_name_still_links(bad, user_id):
    profile = conveyor.link_customer(customer("hanako@example.com", user_id=user_id, first_name=f"Ha{bad}nako"))
    assert FanProfile.objects.get(pk=profile.pk).first_name == "Hanako"


@pytest.mark.parametrize("bad", BAD)
def test_an_nps_comment_with_bad_text_is_invalid(bad):
    conveyor.record_order_placed(placed("order-1"), now=T0)
    with pytest.raises(ConveyorError) as refused:
        conveyor.record_nps(NpsAnswered(customer(), 9, T0, order_id="order-1", comment=f"ok{bad}"), now=T0)
    assert (refused.value.field, refused.value.code) == ("comment", ErrorCode.INVALID)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"message": "hi\x00"}, "message"),
        ({"message": "hi\ud800"}, "message"),
        ({"name": "Bob\r\nBcc: x@example.org"}, "name"),
        ({"name": "Bob\x00"}, "name"),
        ({"email": "bob@example.com\r\nBcc: x@example.org"}, "email"),
    ],
)
def test_an_inquiry_with_bad_text_is_invalid_and_writes_nothing(changes, field):
    inquiry = InquirySubmitted(**{"email": "bob@example.com", "topic": "OTHER", "message": "hi", **changes})
    with pytest.raises(ConveyorError) as refused:
        conveyor.submit_inquiry(inquiry)
    assert (refused.value.field, refused.value.code) == (field, ErrorCode.INVALID)
    assert not Inquiry.objects.exists()


@pytest.mark.parametrize("address", ["not-an-ip", "1.2.3.4, 5.6.7.8", "", None, 12345])
def test_an_inquiry_from_a_host_with_no_real_address_is_stored_without_one(address):
    conveyor.submit_inquiry(InquirySubmitted("bob@example.com", "OTHER", "hi", client_address=address))
    assert Inquiry.objects.get().client_address is None


def test_a_surrogate_pair_is_the_character_it_spells():
    assert storable("tea \ud83c\udf75", "comment") == "tea \U0001f375"


@pytest.mark.parametrize(
    "written, expected",
    [
        ("  Hanako@Example.COM ", "hanako@example.com"),
        ("".join(chr(ord(c) + 0xFEE0) for c in "hanako@example.com"), "hanako@example.com"),
    ],
)
def test_emails_are_compared_in_one_form(written, expected):
    assert normalize_email(written) == expected


@pytest.mark.parametrize("length, valid", [(254, True), (255, False)])
def test_an_email_has_at_most_254_characters(length, valid):
    domain = "@" + ".".join(["d" * 60] * 3) + ".com"
    email = "u" * (length - len(domain)) + domain
    if valid:
        assert normalize_email(email) == email
    else:
        with pytest.raises(ConveyorError, match="254"):
            normalize_email(email)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("203.0.113.5", "203.0.113.5"),
        (" 203.0.113.5 ", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("2001:DB8::0:1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("203.0.113.005", None),
        ("not-an-ip", None),
        (None, None),
    ],
)
def test_client_addresses_are_checked_and_kept_in_one_form(value, expected):
    assert client_address_or_none(value) == expected
