"""Rootdir conftest of the Saleor tier: what Saleor's own root conftest does, plus our fixtures."""

from __future__ import annotations

from django.conf import settings

if getattr(settings, "SALEOR_AVAILABLE", False):
    import django.test
    from saleor.tests.utils import prepare_test_db_connections

    _DATABASES = {settings.DATABASE_CONNECTION_DEFAULT_NAME, settings.DATABASE_CONNECTION_REPLICA_NAME}
    django.test.TransactionTestCase.databases = _DATABASES
    django.test.TestCase.databases = _DATABASES
    prepare_test_db_connections()

    pytest_plugins = [
        "saleor.tests.fixtures",
        "saleor.app.tests.fixtures",
        "saleor.plugins.tests.fixtures",
        "saleor.graphql.tests.fixtures",
        "saleor.webhook.tests.fixtures",
        "saleor.tax.tests.fixtures",
        "saleor.channel.tests.fixtures",
        "saleor.page.tests.fixtures",
        "saleor.menu.tests.fixtures",
        "saleor.warehouse.tests.fixtures",
        "saleor.thumbnail.tests.fixtures",
        "saleor.order.tests.fixtures",
        "saleor.product.tests.fixtures",
        "saleor.site.tests.fixtures",
        "saleor.shipping.tests.fixtures",
        "saleor.permission.tests.fixtures",
        "saleor.giftcard.tests.fixtures",
        "saleor.discount.tests.fixtures",
        "saleor.checkout.tests.fixtures",
        "saleor.attribute.tests.fixtures",
        "saleor.account.tests.fixtures",
        "saleor.graphql.account.tests.fixtures",
        "saleor.payment.tests.fixtures",
        "saleor.webhook.tests.circuit_breaker.fixtures",
        "tests.saleor.fixtures",
    ]
else:
    # Run where Saleor is not importable: nothing here can be collected; say why and pass.
    collect_ignore_glob = ["test_*.py", "fixtures.py"]
    _REASON = getattr(settings, "SALEOR_MISSING_REASON", "Saleor is not importable here")

    def pytest_report_header(config):
        return f"saleor tier: SKIPPED - {_REASON}"

    def pytest_sessionfinish(session, exitstatus):
        if exitstatus == 5:  # no tests collected
            session.exitstatus = 0
