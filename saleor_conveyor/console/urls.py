"""The console's paths below `console/` (pages/urls.py includes them); names are conveyor-console-<name>."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import overview, views

# Each console page module adds its paths here.
urlpatterns: list[Any] = [
    path("", views.home, name="conveyor-console-home"),
    path("sign-in/", views.sign_in, name="conveyor-console-sign-in"),
    path("sign-out/", views.sign_out, name="conveyor-console-sign-out"),
    path("overview/", overview.overview, name="conveyor-console-overview"),
    path("overview/csv/", overview.overview_csv, name="conveyor-console-overview-csv"),
]
