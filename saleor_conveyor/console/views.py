"""What every console page shares (language, refusals, links that keep the session) and the sign-in."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from ..hosts import get_config, get_host
from ..pages import base as pages
from . import auth
from .texts import texts

TEMPLATE_DIR = "conveyor/console"


def staff_language(request: HttpRequest, identity: auth.StaffIdentity | None = None) -> str:
    """`?lang=`, else the staff user's language (Saleor keeps one per user), else the browser's, else the shop's."""
    user_language = getattr(getattr(identity, "user", None), "language_code", None)
    return pages.choose_language(request, request.GET.get("lang"), user_language)


def console_url(request: HttpRequest, name: str, **query: Any) -> str:
    """A console page's URL on this host, carrying the session token when the request came with one (the
    Dashboard's iframe has no cookies) and the language the staff member chose."""
    root = getattr(request, pages.ROOT_ATTRIBUTE, "/")
    relative = reverse(f"conveyor-console-{name}", urlconf=pages.URLCONF).lstrip("/")
    identity = getattr(request, "conveyor_staff", None)
    carried = (
        {auth.SESSION_PARAM: identity.session} if identity is not None and identity.via == auth.VIA_DASHBOARD else {}
    )
    if request.GET.get("lang"):
        carried["lang"] = request.GET["lang"]
    params = {**carried, **{key: value for key, value in query.items() if value is not None}}
    return f"{root}{relative}{'?' + urlencode(params) if params else ''}"


def render_console(
    request: HttpRequest,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    words: Mapping[str, Mapping[str, str]] | None = None,
    status: int = 200,
    nonce: str | None = None,
) -> HttpResponse:
    """One console page in the staff member's language; it may be framed (the Dashboard shows it in an iframe).
    A page whose context already carries the nonce (inline SVG with its own <style>) passes it in."""
    identity = getattr(request, "conveyor_staff", None)
    language = staff_language(request, identity)
    nonce = nonce or secrets.token_urlsafe(16)
    page_context = {
        "language": language,
        "t": texts(language, *([words] if words else [])),
        "staff": identity,
        "session_param": auth.SESSION_PARAM,
        "nonce": nonce,
        "brand": pages.branding(get_config()),
        "nav": _navigation(request, texts(language, *([words] if words else []))) if identity is not None else [],
        "sign_out_url": console_url(request, "sign-out"),
        "session_url": _session_url(request),
        **(context or {}),
    }
    with translation.override(language):
        response = render(request, f"{TEMPLATE_DIR}/{template}", page_context, status=status)
    response["Content-Language"] = language
    pages.with_csrf_cookie(request, response)
    # The Dashboard frames the console from its own origin, which the plugin cannot know: any site may frame
    # it, but a framed page shows nothing without a session (the cookie is SameSite=Lax, `s` is not guessable).
    return pages.secure(response, nonce, frame_ancestors="*")


def _session_url(request: HttpRequest) -> str:
    """Where a page inside the Dashboard trades a renewed app token for a new session (console/dashboard.py)."""
    try:
        return console_url(request, "session")
    except NoReverseMatch:
        return ""


# Each console page module adds its entry (name in console/urls.py, words key) when it is built.
NAVIGATION: list[tuple[str, str]] = []


def _navigation(request: HttpRequest, words: Mapping[str, str]) -> list[dict[str, Any]]:
    current = request.path.rstrip("/").rsplit("/", 1)[-1]
    return [
        {"url": console_url(request, name), "label": words.get(key, key), "current": current == name}
        for name, key in NAVIGATION
    ]


def refused(
    request: HttpRequest, reason: str, identity: auth.StaffIdentity | None, permission: str | None
) -> HttpResponse:
    """No identity: a sign-in page (401); an identity without the page's permission: a clear refusal (403).
    Neither shows any of the shop's data."""
    if reason == "sign_in":
        return render_console(request, "sign_in.html", _sign_in_context(request), status=401)
    words = texts(staff_language(request, identity))
    message = words["refused_body"].format(permission=permission or "")
    return render_console(request, "refused.html", {"reason": reason, "message": message}, status=403)


@auth.staff_page(None, refused=lambda request, reason, identity, permission: refused(request, reason, identity, None))
def home(request: HttpRequest) -> HttpResponse:
    """The console's front page: where each part of it is."""
    return render_console(request, "home.html")


def console_page(permission: str) -> Any:
    """Wrap a console view: a staff member holding `permission`, else the sign-in or refusal page."""
    return auth.staff_page(permission, refused=refused)


def _sign_in_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    next_path = request.get_full_path() if request.method == "GET" else request.POST.get("next", "")
    root = getattr(request, pages.ROOT_ATTRIBUTE, "/")
    action = console_url(request, "sign-in")
    safe_next = next_path if next_path.startswith(root) and not next_path.startswith("//") else ""
    if safe_next.split("?")[0] == action.split("?")[0]:
        safe_next = ""  # signed in from the sign-in page itself: go to the console's front page, not back here
    return {"action": action, "next": safe_next, **extra}


@pages.csrf_checked
def sign_in(request: HttpRequest) -> HttpResponse:
    """The console outside the Dashboard: a staff member signs in with the host's own credentials."""
    if request.method != "POST":
        return render_console(request, "sign_in.html", _sign_in_context(request))
    email = request.POST.get("email", "").strip()[:254]
    password = request.POST.get("password", "")[:512]
    user = get_host().authenticate_staff(request, email, password) if email and password else None
    if user is None:
        context = _sign_in_context(request, failed=True, email=email)
        return render_console(request, "sign_in.html", context, status=401)
    target = _sign_in_context(request)["next"] or console_url(request, "home")
    return auth.start_session(request, HttpResponseRedirect(target), auth.session_token(user, auth.VIA_SIGN_IN))


def sign_out(request: HttpRequest) -> HttpResponse:
    """End the console session kept in the cookie."""
    return auth.end_session(HttpResponseRedirect(console_url(request, "sign-in")))


def staff_form(view: Any) -> Any:
    """Django's CSRF check on a console page's POSTs (`pages.csrf_checked`), except a POST carrying the Dashboard's
    console session in its `s` field: inside the Dashboard's cross-site iframe the browser withholds the CSRF
    cookie, and that token, signed and never ambient like a cookie, is what another site cannot put in a form."""
    checked = pages.csrf_checked(view)

    @functools.wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        carried = request.POST.get(auth.SESSION_PARAM, "") if request.method == "POST" else ""
        if 0 < len(carried) <= 512:
            identity = auth.identity_from_session(carried)
            if identity is not None and identity.via == auth.VIA_DASHBOARD:
                request._dont_enforce_csrf_checks = True  # Django's CsrfViewMiddleware honours this flag
        return checked(request, *args, **kwargs)

    return page
