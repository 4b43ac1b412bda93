"""Console customers: the list and a timeline, MANAGE_USERS only, in fixed queries, with the API's numbers."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from saleor_conveyor.console import auth
from saleor_conveyor.hosts.django import make_access_token
from saleor_conveyor.models import FanProfile

from .shop import customer_with_history, quiet_customers, staff_member

pytestmark = pytest.mark.django_db
LIST = "/console/customers/"


def as_staff(user) -> Client:
    client = Client()
    client.cookies[auth.SESSION_COOKIE] = auth.session_token(user, auth.VIA_SIGN_IN)
    return client


def page_of(response) -> str:
    return response.content.decode()


def test_the_list_shows_customers_with_ltv_last_purchase_and_a_link_to_each_page():
    customer_with_history("hanako@example.com", "Hanako", nps=10)
    profile = FanProfile.objects.get(email="hanako@example.com")
    page = page_of(as_staff(staff_member("staff@example.com", "MANAGE_USERS")).get(f"{LIST}?lang=en"))
    assert 'data-customer="hanako@example.com"' in page and "¥17,000" in page and "Hanako" in page
    assert f"/console/customers/{profile.pk}/" in page and "1 customer<" in page
    assert profile.last_purchase_at.strftime("%Y-%m-%d") in page


def test_filters_and_search_narrow_the_list_as_the_api_does():
    customer_with_history("hanako@example.com", "Hanako", nps=10)
    customer_with_history("taro@example.com", "Taro", nps=2)
    quiet_customers(2)
    client = as_staff(staff_member("staff@example.com", "MANAGE_USERS"))

    def shown(query: str) -> set[str]:
        page = page_of(client.get(f"{LIST}?{query}"))
        return {part.split('"')[0] for part in page.split('data-customer="')[1:]}

    assert shown("nps=PROMOTER") == {"hanako@example.com"}
    assert shown("nps=DETRACTOR&stage=SECOND_TIME") == {"taro@example.com"}
    assert shown("q=TARO") == {"taro@example.com"}
    assert shown("lapsed=yes") == {"quiet0@example.com", "quiet1@example.com"}
    assert shown("segment=MID/MID&lapsed=no") == {"hanako@example.com", "taro@example.com"}
    assert len(shown("stage=NOT_A_STAGE")) == 4  # not a choice: no filter


def test_the_list_is_fifty_a_page_and_pages_on():
    quiet_customers(120)
    client = as_staff(staff_member("staff@example.com", "MANAGE_USERS"))
    first = page_of(client.get(f"{LIST}?lang=en&lapsed=yes"))
    assert first.count("data-customer=") == 50 and "120 customers" in first and "Page 1 of 3" in first
    assert 'rel="next"' in first and "page=2" in first and "lapsed=yes" in first
    last = page_of(client.get(f"{LIST}?lang=en&lapsed=yes&page=3"))
    assert last.count("data-customer=") == 20 and 'rel="next"' not in last
    assert page_of(client.get(f"{LIST}?page=99999999999")).count("data-customer=") == 50  # not a page: the first


@pytest.mark.parametrize("size", [3, 60])
def test_the_list_and_a_customer_page_are_a_fixed_number_of_queries(size):
    quiet_customers(size)
    hanako = customer_with_history()
    profile = FanProfile.objects.get(user=hanako)
    client = as_staff(staff_member("staff@example.com", "MANAGE_USERS"))
    with CaptureQueriesContext(connection) as listed:
        assert client.get(LIST).status_code == 200
    with CaptureQueriesContext(connection) as shown:
        assert client.get(f"{LIST}{profile.pk}/").status_code == 200
    # the staff member and their permissions (3), the page, the count; the profile and seven timeline sources
    assert (len(listed), len(shown)) == (5, 11), [q["sql"][:70] for q in (*listed, *shown)]


def test_a_customers_page_is_their_whole_timeline_newest_first_in_both_languages():
    customer_with_history()
    profile = FanProfile.objects.get(email="hanako@example.com")
    client = as_staff(staff_member("staff@example.com", "MANAGE_USERS"))
    english = page_of(client.get(f"{LIST}{profile.pk}/?lang=en"))
    for kind in ("ORDER", "TOUCHPOINT", "NPS", "FAN_SURVEY", "WINBACK", "RETURN", "INQUIRY"):
        assert f'data-kind="{kind}"' in english
    assert "When does it ship?" in english and "holdout" in english and "Cracked lid" in english
    assert english.index('data-kind="INQUIRY"') < english.index('data-kind="FAN_SURVEY"')  # newest first
    japanese = page_of(client.get(f"{LIST}{profile.pk}/?lang=ja"))
    assert "タイムライン" in japanese and "問い合わせ" in japanese


def test_the_timeline_on_the_page_is_the_apis_timeline():
    customer_with_history()
    profile = FanProfile.objects.get(email="hanako@example.com")
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    body = json.dumps({"query": '{ fanProfile(email: "hanako@example.com") { timeline(first: 200) { title } } }'})
    answer = Client().post(
        "/graphql/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {make_access_token(staff)}"
    )
    titles = [entry["title"] for entry in json.loads(answer.content)["data"]["fanProfile"]["timeline"]]
    page = page_of(as_staff(staff).get(f"{LIST}{profile.pk}/"))
    shown = re.findall(r"<strong>(.*?)</strong>", page.split('<ol class="timeline">')[1].split("</ol>")[0])
    assert shown == titles and len(titles) > 8


@pytest.mark.parametrize("path", [LIST, "/console/customers/{pk}/"])
def test_nobody_a_customer_and_staff_without_manage_users_see_no_customer(path):
    customer_with_history()
    profile = FanProfile.objects.get(email="hanako@example.com")
    url = path.format(pk=profile.pk)
    nobody = Client().get(url)
    assert nobody.status_code == 401 and 'data-form="sign-in"' in page_of(nobody)
    customer = Client()
    customer.cookies[auth.SESSION_COOKIE] = auth.session_token(profile.user, auth.VIA_SIGN_IN)
    assert customer.get(url).status_code == 401  # a customer's session names no staff member
    orders_only = as_staff(staff_member("orders@example.com", "MANAGE_ORDERS")).get(url)
    assert orders_only.status_code == 403 and "MANAGE_USERS" in page_of(orders_only)
    for refused in (nobody, orders_only):
        assert "hanako" not in page_of(refused).lower() and "¥" not in page_of(refused)


def test_an_unknown_customer_a_huge_id_and_unreadable_search_are_clear_pages():
    client = as_staff(staff_member("staff@example.com", "MANAGE_USERS"))
    assert client.get(f"{LIST}424242/").status_code == 404
    assert client.get(f"{LIST}{2**70}/").status_code == 404
    assert client.get(f"{LIST}?q=a%00b").status_code == 400
    assert client.get(f"{LIST}?q={'x' * 300}").status_code == 400


def test_the_navigation_has_customers_and_a_dashboard_session_is_carried_on_links():
    quiet_customers(1)
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    session = auth.session_token(staff, auth.VIA_DASHBOARD)
    page = page_of(Client().get(f"{LIST}?s={session}&lang=en"))
    carried = urlencode({"s": session, "lang": "en"}).replace("&", "&amp;")
    assert f'href="/console/customers/?{carried}"' in page  # the navigation entry
    assert f"?{carried}" in page.split('data-customer="quiet0@example.com"')[1]
