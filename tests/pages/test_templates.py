"""The pages' templates are overridable the Django way: a template of the same name in the host's own
template directories wins over the package's."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_hosts_template_of_the_same_name_replaces_the_packages(settings, tmp_path):
    own = tmp_path / "conveyor" / "pages"
    own.mkdir(parents=True)
    (own / "refused.html").write_text(
        '{% extends "conveyor/pages/base.html" %}{% block content %}<h1>Our own page: {{ kind }}</h1>{% endblock %}'
    )
    default = Client().get("/survey/no-such-page/?lang=en").content.decode()
    assert "Page not found" in default and "Our own page" not in default

    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    replaced = Client().get("/survey/no-such-page/?lang=en")
    body = replaced.content.decode()
    assert replaced.status_code == 404 and "<h1>Our own page: not_found</h1>" in body
    assert "Sandbox Shop" in body  # the package's base template still frames it, with the shop's branding
