from django.http import JsonResponse
from django.urls import path

from saleor_conveyor.graphql.views import handle_graphql_request
from saleor_conveyor.views import handle_unsubscribe_request


def health(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("health/", health),
    path("graphql/", handle_graphql_request, name="conveyor-graphql"),
    path("unsubscribe/", handle_unsubscribe_request, name="conveyor-unsubscribe"),
]
