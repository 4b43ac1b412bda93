"""The customer pages' paths, relative to the conveyor's root (`/plugins/global/conveyor.crm/` in Saleor,
`/` in the sandbox). `serve` is the one entry for both hosts: it resolves the path against this urlconf."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, include, path, resolve

from . import base, fan_survey, inquiry, nps, preferences, returns, survey, winback
from .base import URLCONF, page_url

__all__ = ["is_page_path", "page_url", "serve", "urlpatterns"]

# Each page module adds its paths here (name: conveyor-page-<page>).
urlpatterns: list[Any] = []
# The surveys (issue 13): `survey/` opens the one `?survey=` names (links made before these paths).
urlpatterns += [
    path("survey/", survey.survey_page, name="conveyor-page-survey"),
    path("survey/nps/", nps.nps_page, name="conveyor-page-nps"),
    path("survey/fan/", fan_survey.fan_survey_page, name="conveyor-page-fan-survey"),
    path("survey/winback/", winback.winback_page, name="conveyor-page-winback"),
    path("preferences/", preferences.preferences_page, name="conveyor-page-preferences"),
    # The staff console (console/urls.py): its own views and checks, below the same root.
    path("console/", include("saleor_conveyor.console.urls")),
    path("returns/", returns.return_page, name="conveyor-page-returns"),
    path("inquiry/", inquiry.inquiry_page, name="conveyor-page-inquiry"),
    path("inquiry/embed/", inquiry.inquiry_embed_page, name="conveyor-page-inquiry-embed"),
]


def serve(request: HttpRequest, path: str) -> HttpResponse:
    """Answer `path` (what follows the conveyor's root in the URL) with its page, or the pages' 404."""
    path = path.lstrip("/")
    setattr(request, base.ROOT_ATTRIBUTE, request.path[: len(request.path) - len(path)] if path else request.path)
    try:
        match = resolve(f"/{path}", urlconf=URLCONF)
    except Resolver404:
        return base.not_found(request)
    return match.func(request, *match.args, **match.kwargs)


def is_page_path(path: str) -> bool:
    """Whether a path below the conveyor's root is one of the customer pages."""
    try:
        resolve(f"/{path.lstrip('/')}", urlconf=URLCONF)
    except Resolver404:
        return False
    return True
