"""The customer pages' paths, relative to the conveyor's root (`/plugins/global/conveyor.crm/` in Saleor,
`/` in the sandbox). `serve` is the one entry for both hosts: it resolves the path against this urlconf."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, path, resolve

from . import base, preferences, winback
from .base import URLCONF, page_url

__all__ = ["is_page_path", "page_url", "serve", "urlpatterns"]

# Each page module adds its paths here (name: conveyor-page-<page>).
urlpatterns: list[Any] = [
    path("survey/winback/", winback.winback_page, name="conveyor-page-winback"),
    path("preferences/", preferences.preferences_page, name="conveyor-page-preferences"),
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
