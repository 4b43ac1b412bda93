"""The Dashboard app the plugin's manifest installs: which Saleor app it is, and the token Saleor gave it.

The host checks that a posted token really is the platform's token for our app before calling this; this
module only keeps what it is given, one row per installed app, and forgets earlier installations (the
platform lets only one app of the manifest's identifier be installed at a time).
"""

from __future__ import annotations

from django.db import transaction

from ..errors import ConveyorError
from ..models import DashboardApp

_LIMITS = {"auth_token": 128, "saleor_api_url": 2048, "saleor_domain": 255}


def register_dashboard_app(app_id: int, auth_token: str, *, saleor_api_url: str = "", saleor_domain: str = "") -> None:
    """Keep the installed app's id and token; earlier installations' rows go (their apps are gone)."""
    values = {"auth_token": auth_token, "saleor_api_url": saleor_api_url, "saleor_domain": saleor_domain}
    if type(app_id) is not int or app_id < 1 or not auth_token:
        raise ConveyorError("An app registration needs the app's id and its token.", field="auth_token")
    for name, value in values.items():
        if not isinstance(value, str) or len(value) > _LIMITS[name] or "\x00" in value:
            raise ConveyorError(f"{name} is not a string of at most {_LIMITS[name]} characters.", field=name)
    with transaction.atomic():
        DashboardApp.objects.exclude(app_id=app_id).delete()
        DashboardApp.objects.update_or_create(app_id=app_id, defaults=values)


def registered_app_ids() -> list[int]:
    """The Saleor app ids registered through the manifest's tokenTargetUrl (at most one in practice)."""
    return list(DashboardApp.objects.values_list("app_id", flat=True))
