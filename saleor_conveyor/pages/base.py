"""What every customer page shares: its language, the shop's branding, the signed link, CSRF and refusals."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from .. import tokens
from ..config import ConveyorConfig
from ..errors import ConveyorError, ErrorCode
from ..hosts import get_config
from .texts import PAGE_LANGUAGES, texts

if TYPE_CHECKING:
    from ..models import FanProfile

PageView = Callable[..., HttpResponse]
TEMPLATE_DIR = "conveyor/pages"
URLCONF = "saleor_conveyor.pages.urls"
ROOT_ATTRIBUTE = "conveyor_pages_root"  # set by urls.serve: where the pages live on the host that answered
EMBEDDABLE_ATTRIBUTE = "conveyor_page_embeddable"  # set by a page that may be framed: its refusals may be framed too
# Longest value of a query parameter or form field a page reads; a form's own fields set tighter limits.
MAX_VALUE_LENGTH = 10_000


@dataclass(frozen=True)
class Branding:
    shop_name: str
    logo_url: str
    accent_color: str
    on_accent_color: str  # black or white, whichever reads better on the accent colour
    storefront_url: str
    privacy_note: str


def branding(config: ConveyorConfig) -> Branding:
    """The shop's name, logo and accent colour from the plugin settings."""
    return Branding(
        shop_name=config.sender_name,
        logo_url=config.logo_url,
        accent_color=config.accent_color,
        on_accent_color=_readable_on(config.accent_color),
        storefront_url=config.storefront_url,
        privacy_note=config.privacy_note,
    )


def _readable_on(color: str) -> str:
    """WCAG contrast: white text on dark accents, near-black on light ones."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(2 * digit for digit in digits)
    channels = [int(digits[index : index + 2], 16) / 255 for index in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    white, black = 1.05 / (luminance + 0.05), (luminance + 0.05) / (0.0227 + 0.05)
    return "#ffffff" if white >= black else "#1a1a1a"


def _page_language(code: object) -> str | None:
    if not isinstance(code, str) or not code:
        return None
    code = code.strip().lower().replace("_", "-")
    for candidate in (code, code.split("-")[0]):
        if candidate in PAGE_LANGUAGES:
            return candidate
    return None


def choose_language(
    request: HttpRequest, *preferred: object, browser: bool = True, config: ConveyorConfig | None = None
) -> str:
    """The first of `preferred` the pages speak, else (with `browser`) the browser's `Accept-Language`, else the
    shop's default: one rule for the customer pages and the staff console."""
    for code in preferred:
        if found := _page_language(code):
            return found
    if browser:
        for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")[:200]):
            if found := _page_language(code):
                return found
    return _page_language((config or get_config()).default_language) or "en"


def page_language(request: HttpRequest, profile: FanProfile | None = None, config: ConveyorConfig | None = None) -> str:
    """`?lang=` (the switch on every page, the language of the email), else the customer's, else the browser's
    for a page without a customer, else the shop's default."""
    asked = (request.GET.get("lang"), request.POST.get("lang"))
    if profile is not None:
        return choose_language(request, *asked, profile.language_code, browser=False, config=config)
    return choose_language(request, *asked, config=config)


def read_link(request: HttpRequest, purpose: str) -> FanProfile:
    """The customer the page's signed link names, for this purpose only; INVALID_TOKEN otherwise."""
    token = request.POST.get("token") if request.method == "POST" else None
    return tokens.profile_for_token(token or request.GET.get("token", ""), purpose)


def page_url(request: HttpRequest, name: str, **query: Any) -> str:
    """A page's URL on the host that served this request (query values that are None are left out)."""
    root = getattr(request, ROOT_ATTRIBUTE, "/")
    relative = reverse(f"conveyor-page-{name}", urlconf=URLCONF).lstrip("/")
    params = {key: value for key, value in query.items() if value is not None}
    return f"{root}{relative}{'?' + urlencode(params) if params else ''}"


def _inquiry_url(request: HttpRequest, language: str) -> str | None:
    try:
        return page_url(request, "inquiry", lang=language)
    except NoReverseMatch:
        return None


def _switch_language_url(request: HttpRequest, language: str) -> str:
    query = {key: value for key, value in request.GET.items() if key != "lang"}
    query["lang"] = "en" if language == "ja" else "ja"
    return f"?{urlencode(query)}"


def render_page(
    request: HttpRequest,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    language: str,
    words: Mapping[str, Mapping[str, str]] | None = None,
    status: int = 200,
    embeddable: bool = False,
) -> HttpResponse:
    """One page in the customer's language, with the shop's branding and the pages' security headers."""
    config = get_config()
    nonce = secrets.token_urlsafe(16)
    page_context = {
        "language": language,
        "t": texts(language, *([words] if words else [])),
        "brand": branding(config),
        "nonce": nonce,
        "switch_language_url": _switch_language_url(request, language),
        "inquiry_url": _inquiry_url(request, language),
        **(context or {}),
    }
    with translation.override(language):
        response = render(request, f"{TEMPLATE_DIR}/{template}", page_context, status=status)
    response["Content-Language"] = language
    return secure(response, nonce, frame_ancestors="*" if embeddable else "'none'")


def secure(response: HttpResponse, nonce: str, *, frame_ancestors: str = "'none'") -> HttpResponse:
    """The headers every page of the plugin sends (customer pages and the staff console)."""
    response["Content-Security-Policy"] = (
        "default-src 'none'; "
        f"style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "img-src https: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )
    if frame_ancestors == "'none'":
        response["X-Frame-Options"] = "DENY"
    response["X-Content-Type-Options"] = "nosniff"
    # Links carry signed tokens in their query: never hand them to another site as a Referer. Not no-referrer:
    # with it the browser sends `Origin: null` on the page's own form posts, which Django's CSRF check refuses.
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response


def refusal_page(request: HttpRequest, kind: str, *, language: str, status: int) -> HttpResponse:
    """A clear page for a refused request (bad link, unreadable input, a form from another site): no stack trace."""
    embeddable = getattr(request, EMBEDDABLE_ATTRIBUTE, False)
    return render_page(request, "refused.html", {"kind": kind}, language=language, status=status, embeddable=embeddable)


def link_refused(request: HttpRequest, error: ConveyorError, *, language: str) -> HttpResponse:
    """The page for a forged, expired or wrong-purpose link, saying what the customer can still do."""
    kind = "link_expired" if "expired" in error.message else "link_invalid"
    return refusal_page(request, kind, language=language, status=400)


def _unreadable(values: Any) -> bool:
    for key, items in values.lists():
        for value in (key, *items):
            if len(value) > MAX_VALUE_LENGTH or "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
                return True
    return False


class _Csrf(CsrfViewMiddleware):
    """Django's own CSRF check, run by the view: the plugin's route in Saleor passes no CSRF middleware."""


_csrf = _Csrf(lambda request: HttpResponse())


def with_csrf_cookie(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Set the CSRF cookie a rendered form's token needs (what the middleware would do on the way out)."""
    return _csrf.process_response(request, response)


def csrf_checked(view: PageView) -> PageView:
    """Django's CSRF check on a view's POSTs, done in the view (the console's sign-in form)."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _csrf.process_request(request)
        if _csrf.process_view(request, checked, args, kwargs) is not None:
            response = refusal_page(request, "csrf", language=page_language(request), status=403)
        else:
            response = view(request, *args, **kwargs)
        return _csrf.process_response(request, response)

    return checked


def customer_page(view: PageView) -> PageView:
    """Wrap a page view: GET and POST only, Django's CSRF check on every POST, unreadable input and
    bad links answered with a clear page before the view writes anything."""

    @functools.wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "POST", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, POST"})
        language = page_language(request)
        if _unreadable(request.GET) or (request.method == "POST" and _unreadable(request.POST)):
            return refusal_page(request, "bad_input", language=language, status=400)
        _csrf.process_request(request)
        if _csrf.process_view(request, page, args, kwargs) is not None:
            response = refusal_page(request, "csrf", language=language, status=403)
        else:
            try:
                response = view(request, *args, **kwargs)
            except ConveyorError as error:
                if error.code != ErrorCode.INVALID_TOKEN:
                    raise
                response = link_refused(request, error, language=language)
        return _csrf.process_response(request, response)

    return page


def not_found(request: HttpRequest) -> HttpResponse:
    """The pages' own 404, in the customer's language."""
    return refusal_page(request, "not_found", language=page_language(request), status=404)
