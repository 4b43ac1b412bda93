from django.apps import AppConfig


class ConveyorConfig(AppConfig):
    name = "saleor_conveyor"
    label = "saleor_conveyor"
    verbose_name = "Fan Conveyor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import config, delivery, signals

        config.connect_cache_reset()
        signals.touchpoint_scheduled.connect(
            delivery.enqueue_scheduled, weak=False, dispatch_uid="saleor_conveyor.delivery.enqueue"
        )
