"""A small Django project that hosts the conveyor without Saleor (tests, demo)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
