"""`survey/`: where survey links made before the pages had their own paths point (`?survey=nps|fan`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from . import base, fan_survey, nps

# The page each `?survey=` opens; another survey page adds itself here.
SURVEY_PAGES: dict[str, base.PageView] = {"nps": nps.nps_page, "fan": fan_survey.fan_survey_page}


def survey_page(request: HttpRequest) -> HttpResponse:
    """The survey the link names, answered by its own page (which does its own checks); else the pages' 404."""
    page = SURVEY_PAGES.get(request.GET.get("survey", ""))
    if page is None:
        return base.not_found(request)
    return page(request)
