"""The console inside Saleor's Dashboard: the app's entry page and the handshake that opens a console session.

The manifest's `appUrl` (and its navigation extension) open `console/app/?domain=…&saleorApiUrl=…&id=<appId>`
in the Dashboard's iframe. The Dashboard (3.2x, read from its AppFrame and app-sdk) posts the iframe
`{type: "handshake", payload: {token, version: 1, …}}` when the frame has loaded, and again in answer to the
app's `{type: "notifyReady", payload: {actionId}}` action (the load-time handshake is marked deprecated there,
kept "for compatibility"); so the page sends notifyReady and takes whichever handshake comes first. Later,
when the Dashboard renews its token, it posts `{type: "tokenRefresh", payload: {token}}`.

The page's script accepts a message only from its parent window and from the Dashboard's origin: an origin
whose host is the iframe's `domain` (the API's host, which serves the Dashboard in Saleor Cloud), https (http
only on a loopback host), or one of `CONVEYOR_DASHBOARD_ORIGINS`. That check keeps another site that frames
the page from handing it a token of its choosing; what makes a token good is the server's check:
`session` hands the token to `host.staff_from_app_token` (Saleor's own JWT code in Saleor: signed by Saleor,
for this app, not expired, a staff user) and answers a console session, which names the user only (their
permissions are read again on every page), and the URL to go to with it in `?s=`.

The app token lasts five minutes; the console session lasts `auth.SESSION_MAX_AGE` (8 hours), so pages keep
working after the token expires. Every console page opened with a Dashboard session also listens for
`tokenRefresh` (base.html, `_dashboard_bridge.html`) and trades the new token for a new session, which its
links then carry: a session in the Dashboard ends at most 8 hours after the last token the Dashboard sent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse

from .. import conf
from ..hosts import MANAGE_ORDERS, MANAGE_USERS
from ..pages import base as pages
from . import auth
from .views import console_url, render_console

# Where a handshake leads: the first of these console pages that exists (the overview once it is built).
# The page a handshake opens: the first of these the staff member may see, else the console's front page.
ENTRY_PAGES = (("overview", MANAGE_ORDERS), ("customers", MANAGE_USERS))
TOKEN_MAX = auth.APP_TOKEN_MAX
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:]{2,39}\](:[0-9]{1,5})?$")

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "app_title": "ファン・コンベヤーを開いています",
        "app_waiting": "Saleor のダッシュボードからの認証を待っています…",
        "app_outside": (
            "このページは Saleor のダッシュボードの中で開きます。ダッシュボードの「顧客」>「Fan Conveyor」から開くか、"
            "スタッフとしてサインインしてください。"
        ),
        "app_refused": (
            "ダッシュボードの認証を受け付けられませんでした。トークンがないか、期限切れか、このアプリのものではないか、"
            "スタッフのものではありません。ダッシュボードでページを開き直してください。"
        ),
        "app_forbidden": (
            "このスタッフアカウントには、コンソールを見る権限(MANAGE_USERS か MANAGE_ORDERS)がありません。"
        ),
        "app_sign_in": "スタッフとしてサインイン",
    },
    "en": {
        "app_title": "Opening Fan Conveyor",
        "app_waiting": "Waiting for Saleor's Dashboard to say who you are…",
        "app_outside": (
            "This page opens inside Saleor's Dashboard. Open it from Customers > Fan Conveyor there, or "
            "sign in as staff."
        ),
        "app_refused": (
            "The Dashboard's sign-in was refused: the token is missing, expired, not for this app, or not "
            "a staff member's. Open the page again from the Dashboard."
        ),
        "app_forbidden": "This staff account may not see the console: it needs MANAGE_USERS or MANAGE_ORDERS.",
        "app_sign_in": "Sign in as staff",
    },
}


def entry_page(identity: auth.StaffIdentity | None) -> str:
    """The console page a handshake opens: the first of ENTRY_PAGES that exists and the staff member may see."""
    for name, permission in ENTRY_PAGES:
        if identity is not None and not identity.can(permission):
            continue
        try:
            reverse(f"conveyor-console-{name}", urlconf=pages.URLCONF)
        except NoReverseMatch:
            continue
        return name
    return "home"


def dashboard_origins(domain: str) -> list[str]:
    """The origins a handshake may come from for this iframe's `domain` (none when it is not a host)."""
    allowed = list(conf.DASHBOARD_ORIGINS)
    if _DOMAIN.match(domain or ""):
        allowed.append(f"https://{domain}")
        hostname = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain.split("]")[0] + "]"
        if hostname in ("localhost", "127.0.0.1", "[::1]"):
            allowed.append(f"http://{domain}")
    return allowed


def app_entry(request: HttpRequest) -> HttpResponse:
    """The app's page in the Dashboard: shows nothing of the shop; its script trades the handshake for a session."""
    domain = request.GET.get("domain", "")[:300]
    context = {
        "origins": dashboard_origins(domain),
        "session_url": console_url(request, "session"),
        "sign_in_url": console_url(request, "sign-in"),
    }
    return render_console(request, "app.html", context, words=TEXTS)


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _token_from(request: HttpRequest) -> Any:
    if (request.content_type or "").startswith("application/json"):
        try:
            body = json.loads(request.body[: TOKEN_MAX + 1024] or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None
        return body.get("token") if isinstance(body, dict) else None
    return request.POST.get("token")


def session(request: HttpRequest) -> HttpResponse:
    """POST {token}: the Dashboard's app token for a console session and the page to open with it.

    No CSRF token: the Dashboard's iframe is another site (no cookie reaches it, none is set here), and the
    app token, signed by Saleor for this app and one staff user, is itself the proof of the request.
    """
    if request.method != "POST":
        return _refusal(405, "INVALID", "POST the Dashboard's token.")
    token = _token_from(request)
    if not auth.app_token_shaped(token):
        return _refusal(401, "INVALID_TOKEN", "No app token from the Dashboard.")
    identity = auth.identity_from_app_token(token)
    if identity is None:
        return _refusal(401, "INVALID_TOKEN", "The token is not a valid app token of a staff member for this app.")
    if not identity.permissions:
        return _refusal(403, "PERMISSION_DENIED", "This needs the MANAGE_USERS or MANAGE_ORDERS permission.")
    request.conveyor_staff = identity  # type: ignore[attr-defined]
    response = JsonResponse({"session": identity.session, "next": console_url(request, entry_page(identity))})
    response["Cache-Control"] = "no-store"
    return response
