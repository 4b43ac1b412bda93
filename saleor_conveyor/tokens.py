"""Signed tokens for links in emails: one customer, one purpose, an expiry.

Built on `django.core.signing` (HMAC with SECRET_KEY, a salt per purpose, a timestamp),
so nothing is stored and nothing is hand-rolled. A token names a fan profile id; a
token made for one purpose (say `unsubscribe`) fails for another (`survey`), and a
token older than its purpose's lifetime fails too.

For delivery (emails) and storefronts:

- `make_token(profile, purpose) -> str`: the token alone, e.g. for a template variable.
- `link(profile, purpose, page=None, **params) -> str`: a full URL of the page, by default the plugin's
  own (`pages/`, e.g. `.../survey/nps/?token=...&order=...&score=9`); with the `storefront_pages`
  setting on, the storefront's `{config.storefront_url}{LINK_PATHS[purpose]}?token=...&<params>`.
- `read_token(token, purpose) -> int`: the profile id, or `ConveyorError(INVALID_TOKEN)`.
- `profile_for_token(token, purpose) -> FanProfile`: the same, with the profile read; a token
  of a profile merged into another (a guest who became an account) names the one it joined.

A storefront's own page at the link calls the GraphQL API with the token
(`submitNps(token: ...)`, `submitFanSurvey(token: ...)`, `unsubscribe(token: ...)`); the plugin's pages
call the same service functions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.core import signing

from .errors import ConveyorError, ErrorCode

if TYPE_CHECKING:
    from .config import ConveyorConfig
    from .models import FanProfile

SURVEY = "survey"
UNSUBSCRIBE = "unsubscribe"

# How long a link works: surveys are answered within weeks; an opt-out link must keep working.
MAX_AGE: dict[str, timedelta] = {
    SURVEY: timedelta(days=60),
    UNSUBSCRIBE: timedelta(days=365),
}
# Where a storefront that serves its own pages (the `storefront_pages` setting) has each purpose's page,
# appended to config.storefront_url.
LINK_PATHS: dict[str, str] = {
    SURVEY: "/conveyor/survey",
    UNSUBSCRIBE: "/conveyor/unsubscribe",
}
# Where the plugin's own pages (pages/urls.py) are, below the conveyor's root on the host.
PAGE_PATHS: dict[str, str] = {
    SURVEY: "survey/",
    UNSUBSCRIBE: "preferences/",
}
PURPOSES = tuple(MAX_AGE)


def _salt(purpose: str) -> str:
    if purpose not in MAX_AGE:
        raise ValueError(f"unknown token purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    return f"saleor_conveyor.token.{purpose}"


def _profile_id(profile: FanProfile | int) -> int:
    return profile if isinstance(profile, int) else profile.pk


def make_token(profile: FanProfile | int, purpose: str) -> str:
    """A signed, timestamped token naming this customer for this purpose only."""
    return signing.dumps({"p": _profile_id(profile)}, salt=_salt(purpose), compress=False)


def read_token(token: object, purpose: str) -> int:
    """The profile id a token names; INVALID_TOKEN if forged, expired, or made for another purpose."""
    salt = _salt(purpose)
    if not isinstance(token, str) or not token or len(token) > 512:
        raise ConveyorError("The link's token is missing or malformed.", code=ErrorCode.INVALID_TOKEN, field="token")
    try:
        data = signing.loads(token, salt=salt, max_age=MAX_AGE[purpose])
    except signing.SignatureExpired:
        raise ConveyorError(
            "This link has expired; ask for a new one.", code=ErrorCode.INVALID_TOKEN, field="token"
        ) from None
    except (signing.BadSignature, ValueError):
        raise ConveyorError("This link is not valid.", code=ErrorCode.INVALID_TOKEN, field="token") from None
    profile_id = data.get("p") if isinstance(data, dict) else None
    if isinstance(profile_id, bool) or not isinstance(profile_id, int):
        raise ConveyorError("This link is not valid.", code=ErrorCode.INVALID_TOKEN, field="token")
    return profile_id


def profile_for_token(token: object, purpose: str) -> FanProfile:
    """The customer a token names, following merges; INVALID_TOKEN also when that profile no longer exists."""
    from .models import FanProfile

    profile_id = read_token(token, purpose)
    profile = FanProfile.objects.filter(pk=profile_id).first()
    if profile is None:  # merged into another profile (see conveyor.customers.merge_into): its links keep working
        profile = FanProfile.objects.filter(aliases__old_profile_id=profile_id).first()
    if profile is None:
        raise ConveyorError("This link is no longer valid.", code=ErrorCode.INVALID_TOKEN, field="token")
    return profile


def link(
    profile: FanProfile | int,
    purpose: str,
    *,
    config: ConveyorConfig | None = None,
    page: str | None = None,
    token: str | None = None,
    **params: str,
) -> str:
    """The URL of a purpose's page carrying the customer's token (and extra query params): the plugin's own
    page (`page`, a path below the conveyor's root, else PAGE_PATHS), or the storefront's where it has them.

    `token`: one made by `make_token` for this profile and purpose, so many links of one email sign once."""
    from .hosts import get_config, get_host

    if config is None:
        config = get_config()
    query = urlencode({"token": token or make_token(profile, purpose), **params})
    if config.storefront_pages:
        return f"{config.storefront_url.rstrip('/')}{LINK_PATHS[purpose]}?{query}"
    return f"{get_host().endpoint_url(page or PAGE_PATHS[purpose])}?{query}"
