from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


class SaleorConveyorAppConfig(AppConfig):
    """The Django app (not the shop's settings, which are `config.ConveyorConfig`): wiring done once at start."""

    name = "saleor_conveyor"
    label = "saleor_conveyor"
    verbose_name = "Fan Conveyor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: models and what uses them load only once the app registry is ready.
        from . import checks, delivery, hosts, signals, tasks  # noqa: F401  (checks and tasks register themselves)

        hosts.connect_cache_reset()
        signals.touchpoint_scheduled.connect(
            delivery.enqueue_scheduled, weak=False, dispatch_uid="saleor_conveyor.delivery.enqueue"
        )
        signals.inquiry_submitted.connect(
            delivery.notify_shop_of_inquiry, weak=False, dispatch_uid="saleor_conveyor.delivery.inquiry_notice"
        )
        signals.inquiry_replied.connect(
            delivery.mail_inquiry_reply, weak=False, dispatch_uid="saleor_conveyor.delivery.inquiry_reply"
        )
        signals.rule_book_saved.connect(
            delivery.start_rebuild, weak=False, dispatch_uid="saleor_conveyor.delivery.rebuild_rule_book"
        )
        if "saleor.plugins" in settings.INSTALLED_APPS:
            from .hosts import saleor

            saleor.connect_signals()
            # Saleor runs beat with its database scheduler, and a shop does not edit Saleor's
            # settings: `migrate` registers the periodic tasks (the sandbox has `conveyor_schedule`).
            post_migrate.connect(_register_with_saleor_beat, sender=self, dispatch_uid="saleor_conveyor.beat")


def _register_with_saleor_beat(**kwargs: Any) -> None:
    """After `migrate`, the sweep and lapse scan are rows Saleor's beat scheduler reads."""
    from .saleor.beat import register_periodic_tasks

    register_periodic_tasks()
