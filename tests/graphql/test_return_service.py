"""The returns service's entry points: the caller asks the host, the decision asks nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from saleor_conveyor import conveyor
from saleor_conveyor.errors import ConveyorError, ErrorCode
from saleor_conveyor.events import ReturnLineRequested, ReturnRequested
from saleor_conveyor.hosts import django as django_host
from saleor_conveyor.models import ReturnRequest

from ..factories import customer, shop_order

pytestmark = pytest.mark.django_db


def fulfilled(user):
    now = timezone.now()
    return shop_order(user, placed_at=now - timedelta(days=3), fulfilled_at=now - timedelta(days=2))


def asking(user, order) -> ReturnRequested:
    who = customer(user.email, user_id=user.pk)
    return ReturnRequested(who, str(order.pk), (ReturnLineRequested(str(order.lines.get().pk), 1),), "DAMAGED")


def test_the_decision_makes_no_host_call(hanako, monkeypatch):
    order = fulfilled(hanako)
    request = asking(hanako, order)
    info = conveyor.order_for_return(request.order_id, request.customer)

    def refuse(*args, **kwargs):
        raise AssertionError("the decision asked the host")

    monkeypatch.setattr(django_host.DjangoHost, "order_info", refuse)
    monkeypatch.setattr(django_host.DjangoHost, "config", refuse)
    with pytest.raises(AssertionError, match="asked the host"):  # the host in force is the one refusing
        conveyor.order_for_return(request.order_id, request.customer)
    asked = conveyor.request_return(request, order=info, window_days=30)
    assert asked.status == "REQUESTED" and [line.quantity for line in asked.lines.all()] == [1]


def test_another_customers_order_is_not_found_by_the_caller_helper(hanako, taro):
    order = fulfilled(hanako)
    with pytest.raises(ConveyorError) as refused:
        conveyor.order_for_return(str(order.pk), customer(taro.email, user_id=taro.pk))
    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        ErrorCode.NOT_FOUND,
        "orderId",
        "No such order of yours.",
    )


def test_an_order_read_for_someone_else_is_refused_by_the_decision_and_nothing_is_written(hanako, taro):
    mine, theirs = fulfilled(hanako), fulfilled(taro)
    taros_info = conveyor.order_for_return(str(theirs.pk), customer(taro.email, user_id=taro.pk))
    hanakos_info = conveyor.order_for_return(str(mine.pk), customer(hanako.email, user_id=hanako.pk))
    # Taro's order for Hanako's request of her own order; her own order for a request naming Taro's.
    for request, order in ((asking(hanako, mine), taros_info), (asking(hanako, theirs), hanakos_info)):
        with pytest.raises(ConveyorError) as refused:
            conveyor.request_return(request, order=order, window_days=30)
        assert (refused.value.code, str(refused.value)) == (ErrorCode.NOT_FOUND, "No such order of yours.")
    assert not ReturnRequest.objects.exists()


def test_the_window_given_by_the_caller_is_the_one_applied(hanako):
    order = fulfilled(hanako)
    request = asking(hanako, order)
    info = conveyor.order_for_return(request.order_id, request.customer)
    with pytest.raises(ConveyorError) as refused:
        conveyor.request_return(request, order=info, window_days=1)
    assert refused.value.code == ErrorCode.WINDOW_CLOSED and "within 1 days" in str(refused.value)
    assert not ReturnRequest.objects.exists()
