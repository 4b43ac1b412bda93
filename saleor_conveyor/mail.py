"""Emails of the conveyor: Handlebars templates (like Saleor's email plugins), in the customer's language.

Default templates live in `emails/<language>/`: `<template>.html` is the body, `_layout.html`
wraps it (header, sender, unsubscribe footer), `subjects.json` holds the subject lines.
The shop overrides any part through the `templates` setting:

    {"step_day7": {"subject": "...", "html": "...", "text": "..."},      # every language
     "secret_info": {"ja": {"subject": "..."}, "en": {"subject": "..."}}}  # one language

Values are HTML-escaped in the HTML part; the plain-text part is the override's `text`
or, by default, the HTML made readable as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formataddr
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from pybars import Compiler, PybarsError, strlist

from . import tokens
from .config import ConveyorConfig
from .hosts import get_host
from .models import FanProfile, Touchpoint

EMAILS_DIR = Path(__file__).resolve().parent / "emails"
LAYOUT = "_layout"
PARTS = ("subject", "html", "text")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]+)*$")


class TemplateError(ValueError):
    """A template that is missing or does not compile: retrying cannot fix it."""


@dataclass(frozen=True)
class RenderedEmail:
    language: str
    subject: str
    text: str
    html: str


# --- languages ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def shipped_languages() -> frozenset[str]:
    return frozenset(p.name for p in EMAILS_DIR.iterdir() if p.is_dir() and _LANGUAGE.match(p.name))


def _override_languages(config: ConveyorConfig) -> set[str]:
    found = set()
    for entry in config.templates.values():
        if isinstance(entry, Mapping):
            found.update(key for key in entry if key not in PARTS and _LANGUAGE.match(str(key)))
    return found


def choose_language(profile_language: str, config: ConveyorConfig) -> str:
    """The customer's language if templates exist for it ("ja-JP" finds "ja"), else the shop's default."""
    available = shipped_languages() | _override_languages(config)
    code = (profile_language or "").strip().lower().replace("_", "-")
    for candidate in (code, code.split("-")[0]):
        if candidate and candidate in available:
            return candidate
    return config.default_language if config.default_language in available else "en"


# --- templates ---------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _default_source(language: str, template: str, part: str) -> str | None:
    if part == "subject":
        return _subjects(language).get(template)
    if part == "html":
        path = EMAILS_DIR / language / f"{template}.html"
        return path.read_text(encoding="utf-8") if path.is_file() else None
    return None


@lru_cache(maxsize=16)
def _subjects(language: str) -> dict[str, str]:
    path = EMAILS_DIR / language / "subjects.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _override(config: ConveyorConfig, template: str, language: str, part: str) -> str | None:
    entry = config.templates.get(template)
    if not isinstance(entry, Mapping):
        return None
    per_language = entry.get(language)
    if isinstance(per_language, Mapping) and isinstance(per_language.get(part), str):
        return per_language[part]
    value = entry.get(part)
    return value if isinstance(value, str) else None


def _source(config: ConveyorConfig, template: str, language: str, part: str) -> str | None:
    """The shop's override of one part, else the default."""
    override = _override(config, template, language, part)
    return override if override is not None else _default_source(language, template, part)


_compiler = Compiler()


@lru_cache(maxsize=512)
def _compile(source: str) -> Any:
    """Compiled once per distinct source: pybars makes a module for every compile."""
    return _compiler.compile(source)


def _render(source: str, context: Mapping[str, Any], where: str) -> str:
    try:
        return str(_compile(source)(dict(context)))
    except PybarsError as error:
        raise TemplateError(f"email template {where} does not compile: {error}") from None


def _unescaped(context: Mapping[str, Any]) -> dict[str, Any]:
    """Values marked safe (a strlist) so the subject and text parts keep `<` and `&` as typed."""
    return {key: strlist([value]) if isinstance(value, str) and value else value for key, value in context.items()}


def render_email(template: str, language: str, context: Mapping[str, Any], config: ConveyorConfig) -> RenderedEmail:
    """Subject, plain text and HTML of one email; raises TemplateError when it cannot be made."""
    where = f"{template!r} ({language})"
    html_source = _source(config, template, language, "html")
    subject_source = _source(config, template, language, "subject")
    if html_source is None or subject_source is None:
        raise TemplateError(f"there is no email template {where}; add one under 'templates' in the settings")
    body = _render(html_source, context, f"{where} html")
    layout_source = _source(config, LAYOUT, language, "html")
    html = body
    if layout_source:
        html = _render(layout_source, {**context, "body": strlist([body])}, f"{LAYOUT} ({language})")
    subject = " ".join(_render(subject_source, _unescaped(context), f"{where} subject").split())
    text_source = _override(config, template, language, "text")
    text = _render(text_source, _unescaped(context), f"{where} text") if text_source else html_to_text(html)
    return RenderedEmail(language=language, subject=subject, text=text, html=html)


# --- plain text --------------------------------------------------------------------------


_SPACES = re.compile(r"\s+")


class _TextMaker(HTMLParser):
    BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "table", "tr", "ul", "ol", "footer", "header", "hr", "blockquote"}
    SKIP = {"head", "style", "script", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str | None] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.parts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and not href.startswith("mailto:"):
                self.parts.append(f" ( {href} )")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(_SPACES.sub(" ", data))

    def feed_plain_markup(self, html: str) -> bool:
        """Handle the events HTMLParser would produce, if the HTML is plain markup; False (nothing done) if not."""
        events = _plain_markup_events(html)
        if events is None:
            return False
        for kind, name, value in events:
            if kind is _DATA:
                self.handle_data(value)
            elif kind is _START:
                self.handle_starttag(name, value)
            else:
                self.handle_endtag(name)
        return True

    def text(self) -> str:
        lines = [line.strip() for line in "".join(self.parts).splitlines()]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def html_to_text(html: str) -> str:
    """The HTML part made readable as plain text: paragraphs, list items, links spelled out."""
    maker = _TextMaker()
    if not maker.feed_plain_markup(html):  # anything beyond plain tags and text: the full parser reads it
        maker.feed(html)
        maker.close()
    return maker.text()


# A fast path for the markup email templates are made of: tags with plain or quoted attributes,
# text and character references, a doctype. It produces exactly the events HTMLParser would
# (text unescaped, names lowercased, `<br/>` as start + end); anything else (comments, scripts,
# unusual tag or attribute syntax, a stray `<`) returns None and goes through HTMLParser, which
# costs about three times as much per message.
_DATA, _START, _END = "data", "start", "end"
_ATTRIBUTE = r"""\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?"""
_MARKUP = re.compile(
    rf"<(?P<closing>/?)(?P<name>[a-zA-Z][a-zA-Z0-9]*)(?P<attributes>(?:{_ATTRIBUTE})*)\s*(?P<self_closing>/?)>"
    r"|(?P<doctype><!DOCTYPE\s[^<>]*>)",
    re.IGNORECASE,
)
_ATTRIBUTE_PARTS = re.compile(r"""\s+([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
# Elements whose content HTMLParser (in some Python versions) reads as raw text, not markup.
_RAW_TEXT = frozenset({"script", "style", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext"})


def _attributes(source: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for match in _ATTRIBUTE_PARTS.finditer(source):
        name, double, single, bare = match.groups()
        value = next((v for v in (double, single, bare) if v is not None), None)
        found.append((name.lower(), unescape(value) if value else value))
    return found


def _plain_markup_events(html: str) -> list[tuple[str, str, Any]] | None:
    """HTMLParser's events for plain markup, or None when the HTML holds anything else."""
    events: list[tuple[str, str, Any]] = []
    position = 0
    for match in _MARKUP.finditer(html):
        text = html[position : match.start()]
        if "<" in text:
            return None
        if text:
            events.append((_DATA, "", unescape(text)))
        position = match.end()
        if match["doctype"]:
            continue
        name = match["name"].lower()
        if match["closing"]:
            if match["attributes"] or match["self_closing"]:
                return None
            events.append((_END, name, None))
            continue
        if name in _RAW_TEXT:
            return None
        if name == "title":
            rest = html[position:]
            if rest.find("<") != rest.lower().find("</title"):
                return None  # newer Pythons read a title as raw text: only plain text inside reads the same
        events.append((_START, name, _attributes(match["attributes"]) if name == "a" else []))
        if match["self_closing"]:
            events.append((_END, name, None))
    text = html[position:]
    if "<" in text:
        return None
    if text:
        events.append((_DATA, "", unescape(text)))
    return events


# --- messages ----------------------------------------------------------------------------


def sender(config: ConveyorConfig) -> str:
    """`Shop name <address>` from the settings, else the host's DEFAULT_FROM_EMAIL."""
    address = config.sender_email or settings.DEFAULT_FROM_EMAIL
    return formataddr((config.sender_name, address)) if config.sender_name else address


# Links only a few templates use, made (a signature each) only for a template that names them.
SURVEY_PAGE_LINKS: dict[str, dict[str, str]] = {
    "winback_url": {"page": "survey/winback/", "survey": "winback", "kind": "winback"},
    "improvement_url": {"page": "survey/winback/", "survey": "winback", "kind": "improvement"},
}


def _names(config: ConveyorConfig, template: str, language: str, name: str) -> bool:
    """Whether the template (the shop's override or the default, any part, or the layout) uses `name`."""
    for where, parts in ((template, PARTS), (LAYOUT, ("html",))):
        for part in parts:
            source = _source(config, where, language, part)
            if source and name in source:
                return True
    return False


def email_context(
    touchpoint: Touchpoint,
    profile: FanProfile,
    config: ConveyorConfig,
    *,
    template: str | None = None,
    language: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What templates can use: the customer's name, the shop, signed links, and `extra` (a coupon code).

    Given the `template` and `language`, the survey-page links (SURVEY_PAGE_LINKS) are made only if it uses them.
    """
    nps_params = {"survey": "nps", **({"order": touchpoint.order_id} if touchpoint.order_id else {})}
    survey_token = tokens.make_token(profile.id, tokens.SURVEY)  # both survey links: signing costs per message
    context: dict[str, Any] = {
        "first_name": profile.first_name,
        "email": profile.email,
        "shop_name": config.sender_name,
        "sender_email": config.sender_email or settings.DEFAULT_FROM_EMAIL,
        "storefront_url": config.storefront_url,
        "order_id": touchpoint.order_id or "",
        "marketing": touchpoint.marketing,
        "survey_url": tokens.link(
            profile.id, tokens.SURVEY, config=config, page="survey/fan/", token=survey_token, survey="fan"
        ),
        "nps_url": tokens.link(
            profile.id, tokens.SURVEY, config=config, page="survey/nps/", token=survey_token, **nps_params
        ),
        "unsubscribe_url": tokens.link(profile.id, tokens.UNSUBSCRIBE, config=config) if touchpoint.marketing else "",
    }
    for name, params in SURVEY_PAGE_LINKS.items():
        if template is None or language is None or _names(config, template, language, name):
            query = {**params, **({"lang": language} if language else {})}
            context[name] = tokens.link(profile.id, tokens.SURVEY, config=config, token=survey_token, **query)
    context.update(extra)
    return context


NPS_TEMPLATE = "nps_survey"


def nps_score_links(touchpoint: Touchpoint, profile: FanProfile, config: ConveyorConfig, language: str) -> list:
    """The NPS email's eleven one-click links, 0-10 (`nps_scores`: score, url), sharing one signed token.

    Each opens the survey page with that score chosen; the page, not the GET, records it (link scanners)."""
    token = tokens.make_token(profile.id, tokens.SURVEY)
    order = {"order": touchpoint.order_id} if touchpoint.order_id else {}
    return [
        {
            "score": str(score),
            "url": tokens.link(
                profile.id,
                tokens.SURVEY,
                config=config,
                page="survey/nps/",
                token=token,
                survey="nps",
                **order,
                score=str(score),
                lang=language,
            ),
        }
        for score in range(11)
    ]


def build_message(
    touchpoint: Touchpoint, profile: FanProfile, config: ConveyorConfig, template: str, **extra: Any
) -> EmailMultiAlternatives:
    """The email for one touchpoint; marketing mail carries one-click unsubscribe headers (RFC 8058)."""
    language = choose_language(profile.language_code, config)
    context = email_context(touchpoint, profile, config, template=template, language=language, **extra)
    if template == NPS_TEMPLATE:  # eleven links cost eleven URLs: only the email that shows them
        context["nps_scores"] = nps_score_links(touchpoint, profile, config, language)
    rendered = render_email(template, language, context, config)
    headers = {"X-Conveyor-Touchpoint": str(touchpoint.id), "Content-Language": language}
    if touchpoint.marketing:
        # RFC 8058: mailbox providers POST to this address; it is the conveyor's own endpoint,
        # which unsubscribes on that POST (the body link opens the storefront's page instead).
        one_click = get_host().endpoint_url("unsubscribe/")
        query = urlencode({"token": tokens.make_token(profile.id, tokens.UNSUBSCRIBE)})
        headers["List-Unsubscribe"] = f"<{one_click}?{query}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=sender(config),
        to=[profile.email],
        headers=headers,
    )
    message.attach_alternative(rendered.html, "text/html")
    return message
