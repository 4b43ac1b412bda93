import os

from django.db import connection
from django.http import JsonResponse
from django.urls import path, re_path

from saleor_conveyor.graphql.views import handle_graphql_request
from saleor_conveyor.pages.urls import serve as serve_customer_page
from saleor_conveyor.views import handle_unsubscribe_request


def health(request):
    return JsonResponse({"ok": True})


def health_db(request):
    """The cheapest request that uses the database: one `SELECT 1` (the API benchmark's second baseline)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return JsonResponse({"ok": True})


def health_worker(request):
    """Which server process answered: the API benchmark spreads its connections evenly over the workers."""
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [
    path("health/", health),
    path("health/worker/", health_worker),
    path("health/db/", health_db),
    path("graphql/", handle_graphql_request, name="conveyor-graphql"),
    path("unsubscribe/", handle_unsubscribe_request, name="conveyor-unsubscribe"),
    # The customer pages (saleor_conveyor/pages/urls.py), at the same paths as under Saleor's plugin route.
    re_path(r"^(?P<path>.+)$", serve_customer_page),
]
