from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


class ConveyorConfig(AppConfig):
    name = "saleor_conveyor"
    label = "saleor_conveyor"
    verbose_name = "Fan Conveyor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import config

        config.connect_cache_reset()
        if "saleor.plugins" in settings.INSTALLED_APPS:
            from .hosts import saleor

            saleor.connect_signals()
        post_migrate.connect(register_periodic_tasks, sender=self, dispatch_uid="saleor_conveyor.periodic_tasks")


def register_periodic_tasks(**kwargs: Any) -> None:
    """After `migrate`, the sweep becomes a django-celery-beat row: no edit of the host's settings."""
    try:
        from .tasks import register_periodic_tasks as register
    except ImportError as error:
        if getattr(error, "name", None) in {"saleor_conveyor.tasks"} or "register_periodic_tasks" in str(error):
            return  # the delivery tasks are not installed in this build
        raise
    register()
