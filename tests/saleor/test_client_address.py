"""SaleorHost.client_address: Saleor's own reading (get_client_ip), checked as an IP address, never an error."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from saleor_conveyor.hosts import get_host

URL = "/plugins/global/conveyor.crm/graphql/"


@pytest.mark.parametrize(
    "meta, expected",
    [
        ({"HTTP_X_FORWARDED_FOR": "203.0.113.9", "REMOTE_ADDR": "10.0.0.1"}, "203.0.113.9"),
        ({"HTTP_X_FORWARDED_FOR": "not-an-ip", "REMOTE_ADDR": "10.0.0.1"}, "10.0.0.1"),
        ({"HTTP_X_FORWARDED_FOR": "not-an-ip", "REMOTE_ADDR": "not-an-ip-either"}, None),
        ({"REMOTE_ADDR": "unix:/run/saleor.sock"}, None),
        ({"HTTP_X_FORWARDED_FOR": "::ffff:203.0.113.9", "REMOTE_ADDR": "10.0.0.1"}, "203.0.113.9"),
    ],
)
def test_the_callers_address_is_saleors_reading_checked(db, meta, expected):
    assert get_host().client_address(RequestFactory().post(URL, **meta)) == expected


def test_a_failing_saleor_reading_is_no_address(db, monkeypatch):
    def broken(request):
        raise TypeError("no META")

    monkeypatch.setattr("saleor.core.utils.get_client_ip", broken)
    assert get_host().client_address(RequestFactory().post(URL)) is None
