"""The rule editor (MANAGE_PLUGINS): the book as a form, messages beside their fields, a save through the host with
its history and rebuild, previews in both languages and a test send to the staff member's own address."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail as django_mail
from django.test import Client
from django.utils import timezone

from saleor_conveyor.console import auth
from saleor_conveyor.console.rules import book_from_form, field_for, form_from_book
from saleor_conveyor.conveyor import rule_book
from saleor_conveyor.engine import RuleBook
from saleor_conveyor.hosts import get_config
from saleor_conveyor.models import FanProfile, RuleBookChange, Touchpoint
from tests.factories import shop_order

pytestmark = pytest.mark.django_db
PAGE = "/console/rules/"
CODENAMES = {
    "MANAGE_USERS": "conveyor_manage_users",
    "MANAGE_ORDERS": "conveyor_manage_orders",
    "MANAGE_PLUGINS": "conveyor_manage_plugins",
}


def staff_member(email: str, *permissions: str):
    user = get_user_model().objects.create_user(username=email, email=email, password="pw-staff", is_staff=True)
    for permission in permissions:
        user.user_permissions.add(Permission.objects.get(codename=CODENAMES[permission]))
    return user


def as_staff(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.cookies[auth.SESSION_COOKIE] = auth.session_token(user, auth.VIA_SIGN_IN)
    return client


def form_of(client: Client, query: str = "?lang=en") -> tuple[dict[str, str], str]:
    """The page's form values (as a browser would post them) and the CSRF token."""
    page = client.get(PAGE + query).content.decode()
    values = form_from_book(get_config().rule_book.to_data())
    values["action"] = "save"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return {**values, "csrfmiddlewaretoken": token}, page


def index_of(name: str) -> int:
    return [rule.name for rule in get_config().rule_book.rules].index(name)


def test_the_form_reads_back_into_the_same_book():
    book = get_config().rule_book.to_data()
    read, _where = book_from_form(form_from_book(book))
    assert RuleBook.from_data(read).to_data() == book


def test_paths_of_the_books_messages_name_the_form_fields():
    where = {"conditions": {(3, "stage"): 1}, "tiers": {("card", "JPY"): 0}, "tier_rows": {"card": 0}}
    assert field_for("rules[3].days", where) == "r3-days"
    assert field_for("rules[3].conditions.stage", where) == "r3-c1-value"
    assert field_for("rules[3].conditions.mood", where) == "r3-conditions"
    assert field_for("rules[3].variants[0].weight", where) == "r3-v0-weight"
    assert field_for("rules[3].variants", where) == "r3-variants"
    assert field_for("rules[3].name", where) == "r3"  # the name is not edited here: the rule itself
    assert field_for("amount_tiers.card.JPY", where) == "t0-amount"
    assert field_for("amount_tiers.vip", where) == "tiers"
    assert field_for("lapse_days", where) == "lapse_days"


def test_the_page_shows_each_rule_with_its_fields_in_japanese_and_english():
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    english = client.get(PAGE + "?lang=en").content.decode()
    assert 'data-rule="step_day7"' in english and "Delay (days)" in english and "Amount tiers" in english
    assert f'id="r{index_of("step_day7")}-days"' in english and 'value="7"' in english
    japanese = client.get(PAGE + "?lang=ja").content.decode()
    assert "遅延(日)" in japanese and "ルールの編集" in japanese


def test_a_negative_delay_is_refused_beside_its_field_and_nothing_is_saved():
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(client)
    i = index_of("step_day7")
    values[f"r{i}-days"] = "-3"
    response = client.post(PAGE + "?lang=en", values)
    page = response.content.decode()
    assert response.status_code == 400
    assert f'id="r{i}-days" name="r{i}-days" value="-3"' in page
    assert f'aria-describedby="r{i}-days-error"' in page
    error = re.search(rf'<p class="field-error" id="r{i}-days-error"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "negative" in error and f"rules[{i}] (step_day7): days" in error
    assert f'href="#r{i}-days"' in page  # the summary links to the field
    assert RuleBookChange.objects.count() == 0 and get_config().rule_book.rule("step_day7").days == 7


def test_a_bad_condition_value_is_shown_beside_that_condition_row():
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(client)
    i = index_of("step_day7")
    values[f"r{i}-c0-key"], values[f"r{i}-c0-value"] = "stage", "VIP"
    page = client.post(PAGE + "?lang=en", values).content.decode()
    assert f'id="r{i}-c0-value-error"' in page and "unknown stage" in page


def test_saving_a_delay_and_a_condition_writes_the_book_the_history_and_the_rebuild_moves_the_touchpoint():
    hanako = get_user_model().objects.create_user(username="h@example.com", email="h@example.com", password="x")
    placed = timezone.now() - timedelta(days=1)
    shop_order(hanako, placed_at=placed)
    scheduled = Touchpoint.objects.get(profile=FanProfile.objects.get(user=hanako), rule="step_day7")
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(client)
    i = index_of("step_day7")
    values[f"r{i}-days"] = "10"
    values[f"r{i}-c0-key"], values[f"r{i}-c0-value"] = "customer", "account"

    response = client.post(PAGE + "?lang=en", values)

    assert response.status_code == 302 and "done=saved" in response["Location"]
    rule = get_config().rule_book.rule("step_day7")
    assert rule.days == 10 and rule.conditions.customer == "account"
    change = RuleBookChange.objects.get()
    assert change.changed_by == "admin@example.com"
    assert change.summary == ["step_day7.days: 7 → 10", 'step_day7.conditions: — → {"customer": "account"}']
    rule_book.run_rebuild(change.pk)
    assert Touchpoint.objects.get(pk=scheduled.pk).due_at == placed + timedelta(days=10)
    page = client.get(response["Location"]).content.decode()
    assert "Saved." in page and "Done (1 of 1 customers)" in page
    assert f'data-change="{change.pk}"' in page and "step_day7.days: 7 → 10" in page


def test_start_again_says_so_only_when_a_worker_was_asked(settings, monkeypatch):
    from saleor_conveyor import delivery

    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(client)
    values[f"r{index_of('step_day7')}-days"] = "9"
    client.post(PAGE + "?lang=en", values)
    # the tests' default: no broker, so nothing was queued and the page must not say it was
    token = values["csrfmiddlewaretoken"]
    response = client.post(PAGE + "?lang=en", {"action": "rebuild", "csrfmiddlewaretoken": token})
    assert "done=not_started" in response["Location"]
    assert "could not be started" in client.get(response["Location"]).content.decode()
    monkeypatch.setattr(delivery, "start_rebuild", lambda **kwargs: True)
    asked = client.post(PAGE + "?lang=ja", {"action": "rebuild", "csrfmiddlewaretoken": token})
    assert "done=restarted" in asked["Location"]
    assert "組み直しを依頼しました" in client.get(asked["Location"]).content.decode()


@pytest.mark.parametrize("permissions", [(), ("MANAGE_USERS", "MANAGE_ORDERS")])
def test_staff_without_manage_plugins_are_refused_and_nothing_changes(permissions):
    client = as_staff(staff_member("staff@example.com", *permissions))
    assert client.get(PAGE).status_code == 403
    admin = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(admin)
    values["lapse_days"] = "30"
    client.get("/console/sign-in/")  # a page with a form: the CSRF cookie of this client
    values["csrfmiddlewaretoken"] = client.cookies["csrftoken"].value
    assert client.post(PAGE, values).status_code == 403
    assert client.get("/console/rules/preview/?rule=step_day3&lang_preview=ja").status_code == 403
    assert RuleBookChange.objects.count() == 0 and get_config().lapse_days == 90


def test_a_customer_signed_in_is_not_staff_and_sees_the_sign_in():
    shopper = get_user_model().objects.create_user(username="c@example.com", email="c@example.com", password="x")
    client = Client()
    client.force_login(shopper)
    assert client.get(PAGE).status_code == 401


def test_a_post_without_the_csrf_token_is_refused():
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(client)
    values.pop("csrfmiddlewaretoken")
    values["lapse_days"] = "30"
    assert client.post(PAGE, values).status_code == 403
    assert RuleBookChange.objects.count() == 0


def test_a_nul_byte_in_the_form_is_refused_before_anything_is_read():
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(client)
    values["r0-description"] = "tea\x00"
    assert client.post(PAGE, values).status_code == 400 and RuleBookChange.objects.count() == 0


@pytest.mark.parametrize(("language", "words"), [("ja", "花子"), ("en", "Hanako")])
def test_each_email_previews_in_both_languages_with_a_sample_customer(language, words):
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    page = client.get(f"/console/rules/preview/?rule=step_day3&lang_preview={language}").content.decode()
    assert f'data-preview-language="{language}"' in page and words in page and "data-subject" in page
    for rule in get_config().rule_book.rules:
        if rule.kind in ("EMAIL", "COUPON"):
            shown = client.get(f"/console/rules/preview/?rule={rule.name}&lang_preview={language}")
            assert shown.status_code == 200 and b'class="errors"' not in shown.content, rule.name
    assert client.get("/console/rules/preview/?rule=thank_you_card").status_code == 404


def test_a_test_send_goes_to_the_staff_members_own_address_only():
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(client)
    sent = client.post(
        PAGE + "?lang=en",
        {
            "action": "test_send",
            "rule": "step_day7",
            "lang_preview": "en",
            "csrfmiddlewaretoken": values["csrfmiddlewaretoken"],
            "to": "someone@else.example",
        },
    )
    assert sent.status_code == 302 and "sent=ok" in sent["Location"]
    assert len(django_mail.outbox) == 1 and django_mail.outbox[0].to == ["admin@example.com"]
    assert "Hanako" in django_mail.outbox[0].body and django_mail.outbox[0].subject.startswith("[Preview]")
    assert RuleBookChange.objects.count() == 0


def test_a_dead_mail_server_on_the_test_send_is_told_and_changes_nothing(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_PORT = 1  # nothing listens there
    settings.EMAIL_TIMEOUT = 1
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    values, _ = form_of(client)
    sent = client.post(
        PAGE, {"action": "test_send", "rule": "step_day7", "csrfmiddlewaretoken": values["csrfmiddlewaretoken"]}
    )
    assert sent.status_code == 302 and "sent=failed" in sent["Location"]
    assert "could not be sent" in client.get(sent["Location"] + "&lang=en").content.decode()


def test_a_form_opened_before_someone_elses_save_is_refused_so_their_change_is_not_lost():
    client = as_staff(staff_member("admin@example.com", "MANAGE_PLUGINS"))
    page = client.get(PAGE + "?lang=en").content.decode()
    based_on = re.search(r'name="based_on" value="([0-9a-f]+)"', page).group(1)
    values, _ = form_of(client)
    i = index_of("step_day7")
    other = get_config().rule_book.to_data()
    other["lapse_days"] = 45
    rule_book.update_rule_book(other, by="other@example.com")  # someone else saves meanwhile
    values.update({"based_on": based_on, f"r{i}-days": "10", "lapse_days": "90"})
    response = client.post(PAGE + "?lang=en", values)
    assert response.status_code == 400 and "changed by someone else" in response.content.decode()
    assert get_config().lapse_days == 45 and RuleBookChange.objects.count() == 1


def test_inside_the_dashboard_the_forms_session_field_stands_for_the_csrf_cookie():
    user = staff_member("admin@example.com", "MANAGE_PLUGINS")
    client = Client(enforce_csrf_checks=True)  # no cookie at all: the Dashboard's cross-site iframe
    values = form_from_book(get_config().rule_book.to_data())
    values.update(
        {"action": "save", "lapse_days": "30", auth.SESSION_PARAM: auth.session_token(user, auth.VIA_DASHBOARD)}
    )
    assert client.post(PAGE, values).status_code == 302 and get_config().lapse_days == 30
    values.update({"lapse_days": "31", auth.SESSION_PARAM: "forged"})
    assert client.post(PAGE, values).status_code == 403 and get_config().lapse_days == 30
    cookie_only = as_staff(user)  # a cookie session is ambient: it needs the CSRF token
    values.pop(auth.SESSION_PARAM)
    assert cookie_only.post(PAGE, values).status_code == 403 and get_config().lapse_days == 30
