"""The client address behind the inquiry throttle: REMOTE_ADDR, X-Forwarded-For only from a trusted proxy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from saleor_conveyor import conveyor
from saleor_conveyor.hosts.base import ConveyorHost
from saleor_conveyor.hosts.django import DjangoHost
from saleor_conveyor.models import Inquiry

pytestmark = pytest.mark.django_db

SUBMIT = """
mutation($email: String!) {
  submitInquiry(email: $email, topic: OTHER, message: "Hello") { inquiry { id } errors { field code } }
}
"""


@pytest.fixture
def small_throttle(monkeypatch):
    monkeypatch.setattr(
        conveyor.inquiries,
        "INQUIRY_THROTTLE",
        {"email": (2, timedelta(hours=1)), "client_address": (3, timedelta(hours=1))},
    )


def send(api, n: int = 0, **meta) -> list[str]:
    answer = api(SUBMIT, {"email": f"guest{n}@example.com"}, **meta)
    assert answer.status == 200 and not answer.errors, answer.body
    return [error["code"] for error in answer.data["submitInquiry"]["errors"]]


@pytest.mark.parametrize(
    "forwarded", ["not-an-ip", "1.2.3.4.5", "<script>", "999.1.1.1", "::ffff:999.1.1.1", "fe80::1%", ",,,", "x" * 500]
)
def test_a_forwarded_header_that_is_no_address_is_ignored_not_a_crash(api, forwarded):
    assert send(api, HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="203.0.113.5") == []
    assert Inquiry.objects.get().client_address == "203.0.113.5"


@pytest.mark.parametrize("remote", ["not-an-ip", "", "unix:/run/gunicorn.sock"])
def test_a_remote_address_that_is_no_address_means_no_address(api, remote):
    assert send(api, REMOTE_ADDR=remote) == []
    assert Inquiry.objects.get().client_address is None


def test_rotating_the_forwarded_header_does_not_get_past_the_throttle(api, small_throttle):
    codes = [send(api, n, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}", REMOTE_ADDR="203.0.113.5") for n in range(25)]
    assert codes == [[]] * 3 + [["THROTTLED"]] * 22
    assert set(Inquiry.objects.values_list("client_address", flat=True)) == {"203.0.113.5"}


def test_one_address_written_two_ways_is_one_client(api, small_throttle):
    written = ["203.0.113.5", "::ffff:203.0.113.5", "::FFFF:cb00:7105", "203.0.113.5"]
    codes = [send(api, n, REMOTE_ADDR=address) for n, address in enumerate(written)]
    assert codes == [[], [], [], ["THROTTLED"]]


def test_through_a_trusted_proxy_the_forwarded_client_is_used(api, settings):
    settings.CONVEYOR_TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]
    assert send(api, 0, HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9, 192.0.2.1", REMOTE_ADDR="10.1.2.3") == []
    assert Inquiry.objects.get().client_address == "203.0.113.9"  # the right-most hop that is not ours


def test_through_a_trusted_proxy_rotating_what_the_client_wrote_does_not_get_past_the_throttle(
    api, settings, small_throttle
):
    settings.CONVEYOR_TRUSTED_PROXIES = ["10.0.0.0/8"]
    codes = [
        send(api, n, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.9", REMOTE_ADDR="10.1.2.3") for n in range(6)
    ]
    assert codes == [[]] * 3 + [["THROTTLED"]] * 3


def test_a_proxy_that_is_not_trusted_is_the_client(api, settings):
    settings.CONVEYOR_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert send(api, HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="203.0.113.5") == []
    assert Inquiry.objects.get().client_address == "203.0.113.5"


@pytest.mark.parametrize("forwarded, expected", [("not-an-ip", None), ("", "10.1.2.3"), ("10.9.9.9", "10.1.2.3")])
def test_through_a_trusted_proxy_a_bad_or_missing_hop(settings, forwarded, expected):
    settings.CONVEYOR_TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = RequestFactory().post("/graphql/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.1.2.3")
    assert DjangoHost().client_address(request) == expected


def test_ipv6_addresses_are_kept_in_one_form_without_a_zone(settings):
    settings.CONVEYOR_TRUSTED_PROXIES = ["fd00::/8"]
    request = RequestFactory().post("/", HTTP_X_FORWARDED_FOR="2001:DB8:0:0::1%eth0", REMOTE_ADDR="fd00::1")
    assert DjangoHost().client_address(request) == "2001:db8::1"


def test_a_bad_trusted_proxy_setting_is_a_configuration_error(settings):
    settings.CONVEYOR_TRUSTED_PROXIES = ["10.0.0.0/8", "the load balancer"]
    request = RequestFactory().post("/", REMOTE_ADDR="10.1.2.3")
    with pytest.raises(ImproperlyConfigured, match="CONVEYOR_TRUSTED_PROXIES"):
        DjangoHost().client_address(request)


def test_the_base_host_checks_remote_addr_too():
    class Minimal(DjangoHost):
        client_address = ConveyorHost.client_address

    assert Minimal().client_address(RequestFactory().post("/", REMOTE_ADDR="bogus")) is None
    assert Minimal().client_address(RequestFactory().post("/", REMOTE_ADDR="192.0.2.7")) == "192.0.2.7"


@pytest.mark.django_db(transaction=True)
def test_behind_uvicorns_proxy_headers_a_forwarded_non_address_is_no_crash():
    """The probe's path: uvicorn trusts 127.0.0.1 and hands X-Forwarded-For on as the client (REMOTE_ADDR)."""
    import asyncio
    import json

    from asgiref.sync import ThreadSensitiveContext, sync_to_async
    from django.db import connections
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from sandbox.asgi import application

    async def post(forwarded: str) -> tuple[int, dict]:
        body = json.dumps({"query": SUBMIT, "variables": {"email": "guest@example.com"}}).encode()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/graphql/", "raw_path": b"/graphql/", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()), (b"x-forwarded-for", forwarded.encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        sent: list[dict] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(60)  # the client stays connected (Django abandons a request on disconnect)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        async with ThreadSensitiveContext():  # Django's own, made here so the request's thread can be cleaned up
            await ProxyHeadersMiddleware(application, trusted_hosts="127.0.0.1")(scope, receive, send)
            await sync_to_async(connections.close_all)()  # that thread's connection (CONN_MAX_AGE keeps it)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))

    status, body = asyncio.run(post("not-an-ip"))
    assert status == 200 and body["data"]["submitInquiry"]["errors"] == [], body
    assert Inquiry.objects.get().client_address is None
