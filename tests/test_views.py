"""One-click unsubscribe (RFC 8058): POST with the token opts out; GET only asks."""

import pytest

from saleor_conveyor import tokens
from saleor_conveyor.models import FanProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def hanako():
    return FanProfile.objects.create(email="hanako@example.com")


def test_one_click_post_unsubscribes_the_customer_named_by_the_token(client, hanako):
    token = tokens.make_token(hanako.id, tokens.UNSUBSCRIBE)
    response = client.post(f"/unsubscribe/?token={token}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    hanako.refresh_from_db()
    assert hanako.unsubscribed_at is not None


def test_a_get_only_shows_the_form_so_link_scanners_unsubscribe_nobody(client, hanako):
    token = tokens.make_token(hanako.id, tokens.UNSUBSCRIBE)
    response = client.get(f"/unsubscribe/?token={token}")
    assert response.status_code == 200 and b'method="post"' in response.content
    hanako.refresh_from_db()
    assert hanako.unsubscribed_at is None


@pytest.mark.parametrize("token", ["", "forged", "survey-token"])
def test_a_bad_or_wrong_purpose_token_is_refused_and_changes_nothing(client, hanako, token):
    if token == "survey-token":
        token = tokens.make_token(hanako.id, tokens.SURVEY)
    response = client.post(f"/unsubscribe/?token={token}")
    assert response.status_code == 400
    hanako.refresh_from_db()
    assert hanako.unsubscribed_at is None
