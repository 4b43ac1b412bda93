"""The conveyor's own plain HTTP endpoints (the GraphQL view lives in graphql/views.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt

from . import conveyor, tokens
from .errors import ConveyorError
from .models import ConsentSource

_CONFIRM_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body><form method="post" action="?token={token}">
<p>Stop marketing email from this shop? / このショップからのお知らせメールを停止しますか?</p>
<button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe / 配信停止</button>
</form></body></html>"""


@csrf_exempt
def handle_unsubscribe_request(request: HttpRequest) -> HttpResponse:
    """One-click unsubscribe (RFC 8058): a POST with the signed token opts the customer out.

    A GET only shows a confirmation form: link scanners fetch links, and must not unsubscribe anyone.
    """
    token = request.GET.get("token", "")
    if request.method == "GET":
        return HttpResponse(_CONFIRM_PAGE.format(token=escape(token)), content_type="text/html; charset=utf-8")
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    try:
        conveyor.unsubscribe(tokens.profile_for_token(token, tokens.UNSUBSCRIBE).pk, source=ConsentSource.ONE_CLICK)
    except ConveyorError as error:
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    return HttpResponse("You are unsubscribed. / 配信を停止しました。", content_type="text/plain; charset=utf-8")
