"""The staff console: the conveyor's numbers and work for shop staff, inside Saleor's Dashboard or on its own.

Served below the conveyor's root at `console/` (`/plugins/global/conveyor.crm/console/` in Saleor), routed
by the same urlconf as the customer pages (pages/urls.py includes console/urls.py). Every view is wrapped
by `views.console_page(permission)`: no page shows anything without a staff identity holding the
permission (auth.py says where identities come from). Templates live in `templates/conveyor/console/`.
"""
