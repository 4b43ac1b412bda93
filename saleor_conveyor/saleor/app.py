"""The console as a Saleor app: the manifest the plugin serves, the endpoint Saleor's installer posts the app's
token to, and who is asking (the Dashboard's app token, a staff sign-in), each checked with Saleor's own code.

Read from Saleor 3.23.28: `saleor/app/installation_utils.py` fetches the manifest (GET, no redirects, through
its IP filter), validates it with `manifest_validations.clean_manifest_data`, creates the App and its
AppExtensions, then POSTs `{"auth_token": ...}` to `tokenTargetUrl` with `Saleor-Domain`, `Saleor-Api-Url` and
`Saleor-Schema-Version` headers; a non-2xx answer fails the installation and deletes the app, and the text of
`{"error": {"message": ...}}` is what the admin sees. The Dashboard hands the app page and its widgets a JWT made
by `saleor/core/jwt.py` (`type` thirdparty, `app` the App's global id, `permissions` = what this token may do:
the app's or the extension's permissions met with the user's).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import graphene
import jwt
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .. import __version__, conveyor
from ..errors import ConveyorError
from ..hosts import get_host
from ..hosts.base import TOKEN_PERMISSIONS_ATTRIBUTE
from ..models import DashboardApp
from .configuration import PLUGIN_ID

logger = logging.getLogger(__name__)

APP_IDENTIFIER = PLUGIN_ID  # the manifest's `id`, kept by Saleor as App.identifier
APP_NAME = "Fan Conveyor"
# MANAGE_PLUGINS is for the rule book's editor (the API's rule book needs it): asked now, so adding the editor
# later needs no reinstall; the Dashboard's tokens still carry it only for staff who hold it themselves.
APP_PERMISSIONS = ("MANAGE_ORDERS", "MANAGE_USERS", "MANAGE_PLUGINS")
REQUIRED_SALEOR_VERSION = "^3.22"  # widgets and the mounts below came with 3.22
APP_PATH = "console/app/"  # the console's entry inside the Dashboard: the handshake page (appUrl)
REGISTER_PATH = "register/"  # tokenTargetUrl
# identifier, mount, target, path below the plugin's root, permissions the Dashboard requires to show it (and the
# only ones its widget token carries: Saleor makes an extension's token from the extension's permissions).
EXTENSIONS = (
    ("conveyor-console", "NAVIGATION_CUSTOMERS", "APP_PAGE", APP_PATH, ()),
    ("conveyor-customer-widget", "CUSTOMER_DETAILS_WIDGETS", "WIDGET", "console/widgets/customer/", ("MANAGE_USERS",)),
    ("conveyor-order-widget", "ORDER_DETAILS_WIDGETS", "WIDGET", "console/widgets/order/", ("MANAGE_ORDERS",)),
    ("conveyor-home-widget", "HOMEPAGE_WIDGETS", "WIDGET", "console/widgets/home/", ("MANAGE_ORDERS",)),
)
MAX_REGISTER_BODY = 4096
MAX_APP_TOKEN_LENGTH = 8192  # a Dashboard JWT is well under 2 KB
_AUTH_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")  # Saleor's `oauthlib.common.generate_token()`: 30 letters/digits
_HEADER_LIMITS = {"Saleor-Api-Url": 2048, "Saleor-Domain": 255}


def manifest() -> dict[str, Any]:
    """The app manifest, with absolute URLs on Saleor's public URL (the Dashboard frames them from its own site).

    The navigation page's URL is relative to `appUrl` (the Dashboard joins the two and refuses an absolute one
    for a menu entry); a widget's URL is absolute (the Dashboard would append a relative one to `appUrl`)."""
    host = get_host()
    extensions = []
    for identifier, mount, target, path, permissions in EXTENSIONS:
        extension: dict[str, Any] = {
            "identifier": identifier,
            "label": APP_NAME,
            "mount": mount,
            "target": target,
            "permissions": list(permissions),
            "url": "/" if path == APP_PATH else host.endpoint_url(path),
        }
        if target == "WIDGET":
            extension["options"] = {"widgetTarget": {"method": "POST"}}  # accessToken, appId, ids as form fields
        extensions.append(extension)
    return {
        "id": APP_IDENTIFIER,
        "name": APP_NAME,
        "version": __version__,
        "about": (
            "The staff console of the Fan Conveyor plugin: NPS, fan stages, F2 conversion, the engagement grid and "
            "each customer's touchpoints, inside the Dashboard. The plugin's own hooks feed it: no webhooks."
        ),
        "author": "saleor-conveyor",
        "requiredSaleorVersion": REQUIRED_SALEOR_VERSION,
        "permissions": list(APP_PERMISSIONS),
        "appUrl": host.endpoint_url(APP_PATH),
        "tokenTargetUrl": host.endpoint_url(REGISTER_PATH),
        "extensions": extensions,
        "webhooks": [],
    }


def manifest_view(request: HttpRequest) -> HttpResponse:
    """GET: the manifest Saleor's installer (Dashboard > Apps, `manage.py install_app`) reads."""
    if request.method not in ("GET", "HEAD"):
        return _error(405, "Read the manifest with GET.")
    response = JsonResponse(manifest())
    response["Cache-Control"] = "no-store"  # it follows PUBLIC_URL and the plugin's version
    return response


def register_view(request: HttpRequest) -> HttpResponse:
    """POST from Saleor's installer: keep the app's token if it is this Saleor's token for an app of our manifest.

    Anything else is refused with a 4xx and nothing is stored; Saleor then fails the installation."""
    if request.method != "POST":
        return _error(405, "Saleor posts the app token here.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = MAX_REGISTER_BODY + 1
    if declared > MAX_REGISTER_BODY or len(body := request.body) > MAX_REGISTER_BODY:
        return _error(413, "The request is too large for an app token.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past Python's limit within the 4 KB
        return _error(400, 'Send {"auth_token": "..."} as JSON.')
    token = data.get("auth_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not _AUTH_TOKEN.fullmatch(token):
        return _error(400, 'Send {"auth_token": "..."} as JSON.')
    headers = {name: request.headers.get(name, "") for name in _HEADER_LIMITS}
    if any(len(value) > _HEADER_LIMITS[name] or "\x00" in value for name, value in headers.items()):
        return _error(400, "The Saleor headers are not what Saleor sends.")
    app_id = installed_app_for_token(token)
    if app_id is None:
        logger.warning("conveyor: refused an app token that is not this Saleor's token for %s", APP_IDENTIFIER)
        return _error(403, f"This is not a token of the {APP_NAME} app installed in this Saleor.")
    try:
        conveyor.register_dashboard_app(
            app_id, token, saleor_api_url=headers["Saleor-Api-Url"], saleor_domain=headers["Saleor-Domain"]
        )
    except ConveyorError as error:
        return _error(400, error.message)
    logger.info("conveyor: registered Saleor app %s (%s)", app_id, APP_IDENTIFIER)
    return JsonResponse({"success": True})


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"success": False, "error": {"message": message}}, status=status)


def installed_app_for_token(token: str) -> int | None:
    """The id of the (not removed) app of our manifest that `token` is a token of, checked against Saleor's
    AppToken table the way its `appTokenVerify` does (last four characters, then the password hash)."""
    from saleor.app.models import AppToken

    candidates = AppToken.objects.filter(
        token_last_4=token[-4:], app__identifier=APP_IDENTIFIER, app__removed_at__isnull=True
    ).values_list("auth_token", "app_id")[:10]
    for hashed, app_id in candidates:
        if check_password(token, hashed):
            return int(app_id)
    return None


# --- who is asking ------------------------------------------------------------------------------------------------


def staff_from_app_token(token: str) -> Any | None:
    """The staff user behind a Dashboard app token: Saleor's signature and expiry, type thirdparty, the `app`
    claim naming the app installed from our manifest (and registered here), the user active and staff.

    The user carries the token's permissions (`TOKEN_PERMISSIONS_ATTRIBUTE`): the console grants only what both
    the token and the user's Saleor permissions allow."""
    from saleor.core.jwt import JWT_THIRDPARTY_ACCESS_TYPE, get_user_from_payload

    payload = _saleor_payload(token)
    if payload is None or payload.get("type") != JWT_THIRDPARTY_ACCESS_TYPE or not _is_our_app(payload.get("app")):
        return None
    try:
        user = get_user_from_payload(payload)  # active, and the token not revoked (its `token` key still the user's)
    except (jwt.PyJWTError, KeyError, TypeError):
        return None
    if user is None or not user.is_active or not user.is_staff:
        return None
    if payload.get("user_id") != graphene.Node.to_global_id("User", user.pk):
        return None
    permissions = payload.get("permissions")
    if not isinstance(permissions, list):
        return None
    setattr(user, TOKEN_PERMISSIONS_ATTRIBUTE, frozenset(name for name in permissions if isinstance(name, str)))
    return user


def _saleor_payload(token: Any) -> dict[str, Any] | None:
    """A token's claims if Saleor signed it (RS256 with its own key, as it makes app tokens) and it has not expired."""
    from saleor.core.jwt import JWT_OWNER_FIELD, JWT_SALEOR_OWNER_NAME, jwt_decode

    if not isinstance(token, str) or not 0 < len(token) <= MAX_APP_TOKEN_LENGTH:
        return None
    try:
        if jwt.get_unverified_header(token).get("alg") != "RS256":
            return None  # Saleor would also try HS256 with SECRET_KEY; its app tokens never are
        payload = jwt_decode(token)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or payload.get(JWT_OWNER_FIELD) != JWT_SALEOR_OWNER_NAME:
        return None
    if not isinstance(payload.get("exp"), int | float):
        return None  # PyJWT checks `exp` only when present: a token without one would never expire
    return payload


def _is_our_app(global_id: Any) -> bool:
    """Whether an App global id names the active, installed app of our manifest that registered with us."""
    from saleor.app.models import App

    if not isinstance(global_id, str) or len(global_id) > 200:
        return False
    try:
        kind, pk = graphene.Node.from_global_id(global_id)
    except Exception:  # not base64, not "Type:id"
        return False
    if kind != "App" or not str(pk).isdigit():
        return False
    return (
        App.objects.filter(
            pk=int(pk), identifier=APP_IDENTIFIER, is_active=True, is_installed=True, removed_at__isnull=True
        )
        .filter(pk__in=DashboardApp.objects.values("app_id"))
        .exists()
    )


def console_user_from_request(request: HttpRequest) -> Any | None:
    """The console's "host session" in Saleor: a Bearer token. An app token (thirdparty) counts only if it is
    ours (Saleor's API would take any app's); a staff access token from tokenCreate is Saleor's own sign-in."""
    from saleor.core.auth import get_token_from_request
    from saleor.core.jwt import JWT_THIRDPARTY_ACCESS_TYPE

    token = get_token_from_request(request)
    if not token:
        return None
    try:
        claimed = jwt.decode(token, options={"verify_signature": False})  # only to route; verified below
    except jwt.PyJWTError:
        return None
    if isinstance(claimed, dict) and claimed.get("type") == JWT_THIRDPARTY_ACCESS_TYPE:
        return staff_from_app_token(token)
    return get_host().user_from_request(request)


def authenticate_staff(request: HttpRequest, email: str, password: str) -> Any | None:
    """A staff member's Saleor email and password, checked as `tokenCreate` checks them: the shop's password
    login mode, Saleor's per-address throttle, a confirmed and active account; staff only."""
    from saleor.account.throttling import authenticate_with_throttling
    from saleor.graphql.account.mutations.authentication.utils import update_user_last_login_if_required
    from saleor.site import PasswordLoginMode
    from saleor.site.models import Site

    site_settings = Site.objects.get_current().settings
    if site_settings.password_login_mode != PasswordLoginMode.ENABLED:
        return None  # DISABLED: no password logins; CUSTOMERS_ONLY: a staff password login carries no staff access
    try:
        user = authenticate_with_throttling(request, email, password)
    except ValidationError:  # throttled, or no client address to throttle by
        return None
    if user is None or not user.is_active or not user.is_staff:
        return None
    if (
        not user.is_confirmed
        and not site_settings.allow_login_without_confirmation
        and site_settings.enable_account_confirmation_by_email
    ):
        return None
    with get_host().writer():
        update_user_last_login_if_required(user)
    return user
