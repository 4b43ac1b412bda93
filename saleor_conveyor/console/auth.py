"""Who is asking, on every console page: a staff user with the permission the page needs, or nobody.

A staff member arrives one of three ways, and each ends in the same console session token:

- inside Saleor's Dashboard: the iframe's handshake hands over the app token, which `handshake` checks
  with the host (`host.staff_from_app_token`: in Saleor, Saleor's own JWT code; the app must be ours);
- outside the Dashboard: the sign-in form, with the host's own credentials (`host.authenticate_staff`);
- in the sandbox, a signed-in Django session is enough (`host.user_from_request`).

The session token is ours (`django.core.signing`, salted, `SESSION_MAX_AGE`) and names only the user; the
user and their permissions are read again on every request, so a permission taken away in the Dashboard
applies at once. It travels in a cookie for the standalone console, and in the `s` query parameter or
form field inside the Dashboard, whose iframe is on another site, where browsers withhold cookies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core import signing
from django.http import HttpRequest, HttpResponse

from ..hosts import MANAGE_ORDERS, MANAGE_PLUGINS, MANAGE_USERS, get_host
from ..hosts.base import TOKEN_PERMISSIONS_ATTRIBUTE

SESSION_COOKIE = "conveyor_console"
SESSION_PARAM = "s"
SESSION_MAX_AGE = timedelta(hours=8)
_SALT = "saleor_conveyor.console.session"
PERMISSIONS = (MANAGE_ORDERS, MANAGE_USERS, MANAGE_PLUGINS)

VIA_DASHBOARD = "dashboard"
VIA_SIGN_IN = "sign-in"
VIA_HOST_SESSION = "host-session"


@dataclass(frozen=True)
class StaffIdentity:
    """The staff user behind a console request, as the host knows them now."""

    user: Any
    email: str
    permissions: frozenset[str]
    via: str
    session: str  # the console session token to carry on links and forms ("" for the host's own session)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def session_token(user: Any, via: str) -> str:
    """A console session for this user; it names them (permissions are read on each request) and, when it began
    with an app token narrower than the user, the most that token allowed (`p`)."""
    data: dict[str, Any] = {"u": user.pk, "v": via}
    limit = getattr(user, TOKEN_PERMISSIONS_ATTRIBUTE, None)
    if limit is not None:
        data["p"] = sorted(name for name in limit if name in PERMISSIONS)
    return signing.dumps(data, salt=_SALT, compress=False)


def _identity(user: Any, via: str, session: str, limit: frozenset[str] | None = None) -> StaffIdentity | None:
    host = get_host()
    if user is None or not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        return None
    permissions = frozenset(name for name in PERMISSIONS if host.has_permission(user, name))
    limit = limit if limit is not None else getattr(user, TOKEN_PERMISSIONS_ATTRIBUTE, None)
    if limit is not None:
        permissions &= frozenset(limit)
    return StaffIdentity(user, getattr(user, "email", "") or "", permissions, via, session)


def _from_session(token: str) -> StaffIdentity | None:
    try:
        data = signing.loads(token, salt=_SALT, max_age=SESSION_MAX_AGE)
    except (signing.BadSignature, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or type(data.get("u")) not in (int, str)
        or data.get("v")
        not in (
            VIA_DASHBOARD,
            VIA_SIGN_IN,
        )
    ):
        return None
    limit = data.get("p")
    if limit is not None and (not isinstance(limit, list) or not all(isinstance(name, str) for name in limit)):
        return None
    return _identity(get_host().user_by_id(data["u"]), data["v"], token, None if limit is None else frozenset(limit))


def identity_from_session(token: str) -> StaffIdentity | None:
    """The staff member a console session token names (the `s` field of a form), or None."""
    return _from_session(token)


APP_TOKEN_MAX = 8192  # Saleor's app tokens are a few hundred bytes; anything far longer is not one


def app_token_shaped(token: object) -> bool:
    """Whether a value could be a Dashboard app token at all (text, not empty, not huge, no NUL byte)."""
    return isinstance(token, str) and 0 < len(token) <= APP_TOKEN_MAX and "\x00" not in token


def identity_from_app_token(token: object) -> StaffIdentity | None:
    """The staff member behind the Dashboard's app token (`host.staff_from_app_token`), carrying a console
    session of their own; None for anything the host does not accept."""
    if not app_token_shaped(token):
        return None
    user = get_host().staff_from_app_token(token)
    if user is None:
        return None
    return _identity(user, VIA_DASHBOARD, session_token(user, VIA_DASHBOARD))


def identity_from_request(request: HttpRequest) -> StaffIdentity | None:
    """The staff member asking: the `s` parameter, else the console cookie, else the host's own session."""
    carried = request.POST.get(SESSION_PARAM) if request.method == "POST" else None
    carried = carried or request.GET.get(SESSION_PARAM)
    for token in (carried, request.COOKIES.get(SESSION_COOKIE)):
        if isinstance(token, str) and 0 < len(token) <= 512:
            found = _from_session(token)
            if found is not None:
                return found
    return _identity(get_host().console_user_from_request(request), VIA_HOST_SESSION, "")


def start_session(request: HttpRequest, response: HttpResponse, token: str) -> HttpResponse:
    """Keep the console session in a cookie (the standalone console; the Dashboard's iframe uses `s`)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_MAX_AGE.total_seconds()),
        httponly=True,
        secure=request.is_secure(),
        samesite="Lax",
    )
    return response


def end_session(response: HttpResponse) -> HttpResponse:
    response.delete_cookie(SESSION_COOKIE, samesite="Lax")
    return response


ConsoleView = Callable[..., HttpResponse]


Refused = Callable[[HttpRequest, str, "StaffIdentity | None", "str | None"], HttpResponse]


def staff_page(permission: str | None, *, refused: Refused) -> Any:
    """Only a staff member holding `permission` (None: any staff member) gets the page, as
    `request.conveyor_staff`; anyone else gets `refused(request, reason, identity, permission)` with reason
    "sign_in" (nobody) or "permission" (not allowed)."""

    def wrap(view: ConsoleView) -> ConsoleView:
        @functools.wraps(view)
        def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            identity = identity_from_request(request)
            if identity is None:
                return refused(request, "sign_in", None, permission)
            if permission is not None and not identity.can(permission):
                return refused(request, "permission", identity, permission)
            request.conveyor_staff = identity  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return page

    return wrap
