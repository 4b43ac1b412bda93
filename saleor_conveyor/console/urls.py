"""The console's paths below `console/` (pages/urls.py includes them); names are conveyor-console-<name>."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import customers, dashboard, follow_ups, inquiries, overview, returns, rules, tasks, views, widgets

# Each console page module adds its paths here.
urlpatterns: list[Any] = [
    path("", views.home, name="conveyor-console-home"),
    path("sign-in/", views.sign_in, name="conveyor-console-sign-in"),
    path("sign-out/", views.sign_out, name="conveyor-console-sign-out"),
    path("overview/", overview.overview, name="conveyor-console-overview"),
    path("overview/csv/", overview.overview_csv, name="conveyor-console-overview-csv"),
]
# Customers (issue 15, item 4) and the Dashboard's entry page and widgets (items 1 and 2).
urlpatterns += [
    path("customers/", customers.customer_list, name="conveyor-console-customers"),
    path("customers/<int:profile_id>/", customers.customer_page, name="conveyor-console-customer"),
    path("app/", dashboard.app_entry, name="conveyor-console-app"),
    path("session/", dashboard.session, name="conveyor-console-session"),
    path("widgets/customer/", widgets.customer_widget, name="conveyor-console-widget-customer"),
    path("widgets/order/", widgets.order_widget, name="conveyor-console-widget-order"),
    path("widgets/home/", widgets.home_widget, name="conveyor-console-widget-home"),
]
# Work queues: inquiries and follow-ups (issue 16)
urlpatterns += [
    path("inquiries/", inquiries.inquiry_list, name="conveyor-console-inquiries"),
    path("inquiries/<uuid:inquiry_id>/", inquiries.inquiry_page, name="conveyor-console-inquiry"),
    path("follow-ups/", follow_ups.follow_up_list, name="conveyor-console-follow-ups"),
    path("follow-ups/<int:follow_up_id>/", follow_ups.follow_up_page, name="conveyor-console-follow-up"),
]
# Work queues: staff tasks and returns (issue 16)
urlpatterns += [
    path("tasks/", tasks.task_list, name="conveyor-console-tasks"),
    path("tasks/print/", tasks.print_batch, name="conveyor-console-tasks-print"),
    path("returns/", returns.return_list, name="conveyor-console-returns"),
]
# Rule editor (issue 16)
urlpatterns += [
    path("rules/", rules.rules_page, name="conveyor-console-rules"),
    path("rules/progress/", rules.rules_progress, name="conveyor-console-rules-progress"),
    path("rules/preview/", rules.rules_preview, name="conveyor-console-rules-preview"),
]
