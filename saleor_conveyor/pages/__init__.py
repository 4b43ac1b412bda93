"""The customer pages the plugin serves itself, so a shop needs no storefront code for the method to work.

In Saleor they answer under `/plugins/global/conveyor.crm/<path>` (the plugin's `webhook` resolves the
path against `urls.py`); in the sandbox at the same relative paths. Email links point here unless the
shop's `storefront_pages` setting says its storefront serves its own (`tokens.link`).

Each page is one module (a journey, as in django-allauth's flows) whose views stay thin: they read the
signed link (`base.read_link`), call the same service function the GraphQL API calls, and render a
template under `templates/conveyor/pages/`, which a host overrides by putting a template of the same
name in its own templates. `base.customer_page` gives every view CSRF protection (done in the view:
Saleor's plugin route has no CSRF middleware), refusal pages for bad links and unreadable input,
and security headers.
"""
