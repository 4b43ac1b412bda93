"""Signed tokens for links in emails (unsubscribe, surveys): one customer, one purpose, an expiry.

A token works without a login, so it names exactly one profile and one purpose (the
salt), and it expires. Built on `django.core.signing` and the host's SECRET_KEY.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core import signing

from .errors import ConveyorError, ErrorCode

UNSUBSCRIBE = "unsubscribe"
NPS = "nps"
FAN_SURVEY = "fan_survey"
# An unsubscribe link must keep working in an old email.
LONG_LIVED = {UNSUBSCRIBE: 365}


def _salt(purpose: str) -> str:
    return f"saleor_conveyor.tokens.{purpose}"


def make_token(profile_id: int, purpose: str, *, max_age_days: int = 30) -> str:
    """A URL-safe token naming one profile for one purpose, valid for `max_age_days`."""
    return signing.dumps({"p": int(profile_id), "d": int(max_age_days)}, salt=_salt(purpose), compress=True)


def read_token(token: str, purpose: str) -> int:
    """The profile id in a valid token for this purpose; ConveyorError(INVALID_TOKEN) otherwise."""
    try:
        payload = signing.loads(token, salt=_salt(purpose))
        signing.loads(token, salt=_salt(purpose), max_age=int(payload["d"]) * 86400)
        return int(payload["p"])
    except signing.SignatureExpired:
        raise ConveyorError("This link has expired.", code=ErrorCode.INVALID_TOKEN, field="token") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ConveyorError("This link is not valid.", code=ErrorCode.INVALID_TOKEN, field="token") from None


def link(profile_id: int, purpose: str, **params: str) -> str:
    """`{storefront_url}/conveyor/{purpose}?token=…`, the page the storefront serves for it."""
    from .config import get_config

    days = LONG_LIVED.get(purpose, 30)
    query = urlencode({"token": make_token(profile_id, purpose, max_age_days=days), **params})
    return f"{get_config().storefront_url}/conveyor/{purpose}?{query}"
