"""The rule editor (MANAGE_PLUGINS): the rule book as a form, saved through the host, with previews and history.

The form is the whole book: each rule's trigger, delay, conditions, kind, template, variants and holdout,
on/off; the amount tiers per currency; the lapse days. A POST is read back into the book's own JSON
(`book_from_form`) and checked by the rule book itself (`conveyor.rule_book.refused_entries`): each
message is shown beside the field its path names (`rules[3].days` is rule 3's delay). A valid book is
saved by the service (the host's configuration, the history row, then the rebuild in the background);
the page shows the rebuild's progress (polled from `rules/progress/`) and the history of changes. Each
email of the book can be previewed in Japanese and English with a sample customer and sent to the staff
member's own address. Everything works by form POST; the only script adds condition rows and polls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from .. import conf, conveyor, delivery, mail
from ..config import ConveyorConfig
from ..engine import FanStage, NpsCategory
from ..engine.conditions import CONDITIONS
from ..engine.rules import KINDS, RULE_FIELDS, TRIGGERS, VOUCHERS, Rule
from ..engine.surveys import ENGAGEMENT_CELLS, ENGAGEMENT_CLASSES
from ..errors import ConveyorError
from ..hosts import MANAGE_PLUGINS, get_config, get_host
from ..models import FanProfile, RuleBookChange, Touchpoint
from ..pages import base as pages
from . import views
from .views import console_page, console_url, render_console, staff_form

HISTORY_SHOWN = 20
RULES_MAX = 200  # far more than any book; a form claiming more rows is cut here
ROWS_MAX = 20  # conditions, variants per rule
TIERS_MAX = 100
EMAIL_KINDS = ("EMAIL", "COUPON")  # the kinds that send an email (a coupon's carries its code)
PREVIEW_LANGUAGES = ("ja", "en")
LIST_CONDITIONS = ("stage", "engagement", "nps", "channel", "language")
FLAG_CONDITIONS = ("lapsed", "discounted_order", "gift_order")
SAMPLE = {
    "ja": {"first_name": "花子", "order": "1001"},
    "en": {"first_name": "Hanako", "order": "1001"},
}

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "rules_nav": "ルール",
        "rules_title": "ルールの編集",
        "rules_intro": "コンベヤーのルールです。保存するとショップの設定に書き込まれ、"
        "全顧客の予定がバックグラウンドで組み直されます。",
        "rule": "ルール",
        "active": "有効",
        "trigger": "きっかけ",
        "days": "遅延(日)",
        "days_hint": "きっかけから何日後に届けるか。0 以上。",
        "kind": "種類",
        "template": "メールのテンプレート",
        "description": "説明",
        "count": "何回目の購入",
        "tier": "金額の段階",
        "category": "NPS 区分",
        "stage": "段階",
        "engagement": "エンゲージメント",
        "cooldown_days": "間隔(日)",
        "once": "一度だけ",
        "marketing": "販促メール(配信停止できる)",
        "badge": "バッジ",
        "voucher": "クーポン",
        "details": "そのほかの設定",
        "conditions": "条件",
        "conditions_hint": "条件を選び、値を書きます。複数の値はカンマ区切り(例: FIRST_TIME, SECOND_TIME)。"
        "true / false、購入回数は 2-5 のように。条件を「なし」にすると外れます。",
        "condition": "条件",
        "value": "値",
        "no_condition": "なし",
        "add_condition": "条件を追加",
        "variants": "バリアントとホールドアウト",
        "variant_name": "バリアント名",
        "weight": "割合",
        "holdout": "ホールドアウト(0〜0.5)",
        "experiment": "実験 ID",
        "tiers": "金額の段階(通貨ごと)",
        "tiers_hint": "段階名・通貨・金額。金額を空にした行は消えます。",
        "tier_name": "段階",
        "currency": "通貨",
        "amount": "金額",
        "lapse_days": "休眠とみなす日数",
        "save": "保存して組み直す",
        "saved": "保存しました。全顧客の予定を組み直しています。",
        "unchanged": "変更はありません。",
        "refused": "保存できませんでした。次の {count} 件を直してください。",
        "bad_value": "この値は使えません",
        "progress": "組み直し",
        "progress_waiting": "ワーカーの開始を待っています。",
        "progress_running": "{done} / {total} 人",
        "progress_done": "完了({done} / {total} 人)",
        "progress_superseded": "新しい変更があるため中止しました。",
        "progress_stopped": "止まりました: {outcome}",
        "restart": "組み直しをもう一度始める",
        "restarted": "組み直しを依頼しました。",
        "not_started": "組み直しを始められませんでした。ワーカーとブローカーを確認してください。",
        "history": "変更履歴",
        "no_history": "まだ変更はありません。",
        "when": "日時",
        "who": "変更した人",
        "what": "変更内容",
        "preview": "プレビュー",
        "preview_ja": "日本語",
        "preview_en": "英語",
        "preview_title": "メールのプレビュー: {rule}",
        "subject": "件名",
        "plain_text": "テキスト版",
        "test_send": "自分宛てにテスト送信",
        "test_sent": "{email} にテストメールを送りました。",
        "test_failed": "テストメールを送れませんでした: {reason}",
        "no_preview": "このルールのメールはプレビューできません: {reason}",
        "back_to_rules": "ルールの編集へ",
        "sample_note": "サンプル顧客「{name}」で表示しています。リンクはプレビュー用で、どこにも記録しません。",
        "rules_count": "{count} 件のルール",
        "on": "オン",
        "off": "オフ",
    },
    "en": {
        "rules_nav": "Rules",
        "rules_title": "Edit the rules",
        "rules_intro": "The conveyor's rules. Saving writes them to the shop's configuration, and every customer's "
        "schedule is rebuilt in the background.",
        "rule": "Rule",
        "active": "On",
        "trigger": "Trigger",
        "days": "Delay (days)",
        "days_hint": "Days after the trigger. 0 or more.",
        "kind": "Kind",
        "template": "Email template",
        "description": "Description",
        "count": "Purchase number",
        "tier": "Amount tier",
        "category": "NPS category",
        "stage": "Stage",
        "engagement": "Engagement",
        "cooldown_days": "Cooldown (days)",
        "once": "Only once",
        "marketing": "Marketing (can be unsubscribed)",
        "badge": "Badge",
        "voucher": "Voucher",
        "details": "More settings",
        "conditions": "Conditions",
        "conditions_hint": "Choose a condition and write its value. Several values separated by commas "
        "(e.g. FIRST_TIME, SECOND_TIME); true / false; a purchase count as 2-5. Choose none to remove one.",
        "condition": "Condition",
        "value": "Value",
        "no_condition": "None",
        "add_condition": "Add a condition",
        "variants": "Variants and holdout",
        "variant_name": "Variant name",
        "weight": "Weight",
        "holdout": "Holdout (0 to 0.5)",
        "experiment": "Experiment id",
        "tiers": "Amount tiers (per currency)",
        "tiers_hint": "Tier, currency, amount. A row whose amount is emptied is removed.",
        "tier_name": "Tier",
        "currency": "Currency",
        "amount": "Amount",
        "lapse_days": "Lapsed after (days)",
        "save": "Save and rebuild",
        "saved": "Saved. Every customer's schedule is being rebuilt.",
        "unchanged": "Nothing changed.",
        "refused": "Not saved. Fix these {count} entries.",
        "bad_value": "This value cannot be used",
        "progress": "Rebuild",
        "progress_waiting": "Waiting for a worker to start it.",
        "progress_running": "{done} of {total} customers",
        "progress_done": "Done ({done} of {total} customers)",
        "progress_superseded": "Stopped: a later change rebuilds everyone.",
        "progress_stopped": "Stopped: {outcome}",
        "restart": "Start the rebuild again",
        "restarted": "The rebuild was asked for again.",
        "not_started": "The rebuild could not be started (no worker could be asked): check the worker and its broker.",
        "history": "History",
        "no_history": "No change yet.",
        "when": "When",
        "who": "Who",
        "what": "What changed",
        "preview": "Preview",
        "preview_ja": "Japanese",
        "preview_en": "English",
        "preview_title": "Email preview: {rule}",
        "subject": "Subject",
        "plain_text": "Plain text",
        "test_send": "Send a test to myself",
        "test_sent": "A test email was sent to {email}.",
        "test_failed": "The test email could not be sent: {reason}",
        "no_preview": "This rule's email cannot be previewed: {reason}",
        "back_to_rules": "Back to the rules",
        "sample_note": "Shown for a sample customer, {name}. Its links are for the preview and record nothing.",
        "rules_count": "{count} rules",
        "on": "On",
        "off": "Off",
    },
}

views.NAVIGATION.append(("rules", "rules_nav"))


# --- the form <-> the book's JSON ------------------------------------------------------------


def _number(text: str) -> Any:
    """A whole number as typed ("-3" is -3, for the book to refuse as negative); anything else as typed."""
    text = text.strip()
    return int(text) if re.fullmatch(r"[+-]?\d{1,12}", text) else text


def _flag_value(text: str) -> Any:
    lowered = text.strip().lower()
    return {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}.get(lowered, text)


def _condition_value(key: str, text: str) -> Any:
    text = text.strip()
    if key in LIST_CONDITIONS:
        items = [item.strip() for item in text.split(",") if item.strip()]
        return items if items else text
    if key in FLAG_CONDITIONS:
        return _flag_value(text)
    if key == "purchase_count":
        match = re.fullmatch(r"(\d{0,6})\s*(?:-\s*(\d{0,6}))?", text)
        if match and (match.group(1) or match.group(2)):
            low, high = match.group(1), match.group(2)
            if "-" not in text:
                return {"min": int(low), "max": int(low)}
            return {k: int(v) for k, v in (("min", low), ("max", high)) if v}
        return text
    return text


def _condition_text(key: str, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if key == "purchase_count" and isinstance(value, Mapping):
        low, high = value.get("min"), value.get("max")
        if low is not None and low == high:
            return str(low)
        return f"{'' if low is None else low}-{'' if high is None else high}"
    return str(value)


def _count(post: Mapping[str, str], name: str, limit: int) -> int:
    raw = post.get(name, "0")
    return min(int(raw), limit) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0


def book_from_form(post: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rule book a POSTed form describes, and where each entry came from (for placing the book's messages):
    `{"conditions": {(rule, key): row}, "tiers": {(tier, currency): row}, "tier_rows": {tier: row}}`."""
    where: dict[str, Any] = {"conditions": {}, "tiers": {}, "tier_rows": {}}
    rules = []
    for i in range(_count(post, "rules", RULES_MAX)):
        p = f"r{i}-"
        trigger = post.get(p + "trigger", "")
        rule: dict[str, Any] = {"name": post.get(p + "name", ""), "trigger": trigger, "kind": post.get(p + "kind", "")}
        for key in ("days", "cooldown_days"):
            if post.get(p + key, "").strip():
                rule[key] = _number(post[p + key])
        specific = {
            "purchase_count": "count",
            "order_amount": "tier",
            "nps": "category",
            "stage_entry": "stage",
            "engagement_entry": "engagement",
        }.get(trigger)
        if specific:
            value = post.get(p + specific, "").strip()
            rule[specific] = _number(value) if specific == "count" else (value or None)
        for flag in ("active", "once", "marketing"):
            rule[flag] = post.get(p + flag) == "on"
        for key in ("badge", "voucher", "experiment", "holdout"):
            value = post.get(p + key, "").strip()
            if value:
                rule[key] = value
        template = post.get(p + "template", "").strip()
        if template:
            rule["template"] = template
        description = post.get(p + "description", "").strip()
        if description:
            rule["description"] = description
        conditions: dict[str, Any] = {}
        for k in range(_count(post, p + "conditions", ROWS_MAX)):
            key = post.get(f"{p}c{k}-key", "").strip()
            if key:
                conditions[key] = _condition_value(key, post.get(f"{p}c{k}-value", ""))
                where["conditions"][(i, key)] = k
        if conditions:
            rule["conditions"] = conditions
        variants = []
        for k in range(_count(post, p + "variants", ROWS_MAX)):
            parts = {part: post.get(f"{p}v{k}-{part}", "").strip() for part in ("name", "template", "weight")}
            if any(parts.values()):
                variants.append(parts)
        if variants:
            rule["variants"] = variants
        rules.append(rule)
    tiers: dict[str, dict[str, Any]] = {}
    for k in range(_count(post, "tiers", TIERS_MAX)):
        tier, currency = post.get(f"t{k}-tier", "").strip(), post.get(f"t{k}-currency", "").strip()
        amount = post.get(f"t{k}-amount", "").strip()
        if tier and amount:
            tiers.setdefault(tier, {})[currency] = amount
            where["tiers"][(tier, currency)] = k
            where["tier_rows"].setdefault(tier, k)
    book = {"lapse_days": _number(post.get("lapse_days", "")), "amount_tiers": tiers, "rules": rules}
    return book, where


_RULE_PATH = re.compile(r"^rules\[(\d+)\](?:\.(.*))?$")
_VARIANT_PATH = re.compile(r"^variants\[(\d+)\](?:\.(name|template|weight))?")
_RULE_INPUTS = RULE_FIELDS - {"name", "conditions", "variants"}  # one form field each


def field_for(path: str, where: Mapping[str, Any]) -> str:
    """The id of the form field a rule book path names: `rules[3].days` is `r3-days`, a condition its value."""
    if path == "lapse_days":
        return "lapse_days"
    if path.startswith("amount_tiers"):
        parts = path.split(".")
        if len(parts) >= 3 and (parts[1], parts[2]) in where["tiers"]:
            return f"t{where['tiers'][(parts[1], parts[2])]}-amount"
        if len(parts) >= 2 and parts[1] in where["tier_rows"]:
            return f"t{where['tier_rows'][parts[1]]}-currency"
        return "tiers"
    match = _RULE_PATH.match(path)
    if match is None:
        return "rules"
    index, rest = int(match.group(1)), match.group(2) or ""
    head = rest.split(".")[0].split("[")[0]
    if head in _RULE_INPUTS:
        return f"r{index}-{head}"
    if head == "conditions":
        key = rest.split(".")[1] if "." in rest else ""
        row = where["conditions"].get((index, key))
        return f"r{index}-c{row}-value" if row is not None else f"r{index}-conditions"
    if head == "variants":
        variant = _VARIANT_PATH.match(rest)
        if variant and variant.group(2):
            return f"r{index}-v{variant.group(1)}-{variant.group(2)}"
        return f"r{index}-variants"
    return f"r{index}"


def form_from_book(book: Mapping[str, Any]) -> dict[str, str]:
    """The form's values for a book (its `to_data()`): what `book_from_form` reads back into the same book."""
    values: dict[str, str] = {"lapse_days": str(book.get("lapse_days", "")), "rules": str(len(book["rules"]))}
    for i, rule in enumerate(book["rules"]):
        p = f"r{i}-"
        for key in ("name", "trigger", "kind", "template", "description", "badge", "voucher", "experiment"):
            if rule.get(key) is not None:
                values[p + key] = str(rule[key])
        values.setdefault(p + "template", rule["name"])
        for key in ("days", "cooldown_days", "count", "tier", "category", "stage", "engagement", "holdout"):
            if rule.get(key) is not None:
                values[p + key] = str(rule[key])
        for flag in ("active", "once", "marketing"):
            if rule.get(flag, True):
                values[p + flag] = "on"
        conditions = list((rule.get("conditions") or {}).items())
        for k, (key, value) in enumerate(conditions):
            values[f"{p}c{k}-key"], values[f"{p}c{k}-value"] = key, _condition_text(key, value)
        values[p + "conditions"] = str(len(conditions) + 1)  # one empty row to add a condition
        variants = rule.get("variants") or []
        for k, variant in enumerate(variants):
            for part in ("name", "template", "weight"):
                values[f"{p}v{k}-{part}"] = str(variant.get(part, ""))
        values[p + "variants"] = str(len(variants) + 1)
    rows = [
        (tier, currency, amount)
        for tier, amounts in book.get("amount_tiers", {}).items()
        for currency, amount in amounts.items()
    ]
    for k, (tier, currency, amount) in enumerate(rows):
        values[f"t{k}-tier"], values[f"t{k}-currency"], values[f"t{k}-amount"] = tier, currency, str(amount)
    values["tiers"] = str(len(rows) + 2)  # two empty rows to add a tier or a currency
    return values


# --- what the template shows ------------------------------------------------------------------


def _field(values: Mapping[str, str], errors: Mapping[str, list[str]], name: str, **extra: Any) -> dict[str, Any]:
    return {"id": name, "name": name, "value": values.get(name, ""), "errors": errors.get(name, []), **extra}


def _rules_view(values: Mapping[str, str], errors: Mapping[str, list[str]], words: Mapping[str, str]) -> list:
    tiers = sorted({values[k] for k in values if re.fullmatch(r"t\d+-tier", k) and values[k]})
    kinds = (*KINDS, *[kind for kind in _registered_kinds() if kind not in KINDS])
    choices = {
        "trigger": list(TRIGGERS),
        "kind": list(kinds),
        "tier": tiers,
        "category": [str(c) for c in NpsCategory],
        "stage": [str(s) for s in FanStage],
        "engagement": [*ENGAGEMENT_CLASSES, *ENGAGEMENT_CELLS],
        "voucher": list(VOUCHERS),
    }
    shown = []
    for i in range(_count(values, "rules", RULES_MAX)):
        p = f"r{i}-"

        def f(key: str, p: str = p) -> dict[str, Any]:
            return _field(values, errors, p + key, label=words.get(key, key), choices=choices.get(key))

        conditions = [
            {
                "key": _field(values, errors, f"{p}c{k}-key"),
                "value": _field(values, errors, f"{p}c{k}-value"),
                "index": k,
            }
            for k in range(_count(values, p + "conditions", ROWS_MAX))
        ]
        variants = [
            {part: _field(values, errors, f"{p}v{k}-{part}") for part in ("name", "template", "weight")}
            for k in range(_count(values, p + "variants", ROWS_MAX))
        ]
        name = values.get(p + "name", "")
        rule_errors = errors.get(f"r{i}", []) + errors.get(p + "name", [])
        shown.append(
            {
                "index": i,
                "prefix": p,
                "name": name,
                "name_field": _field(values, errors, p + "name"),
                "errors": rule_errors,
                "active": f("active"),
                "trigger": f("trigger"),
                "days": f("days"),
                "kind": f("kind"),
                "template": f("template"),
                "description": f("description"),
                "details": [
                    f(key)
                    for key in ("count", "tier", "category", "stage", "engagement", "cooldown_days", "badge", "voucher")
                ],
                "flags": [f("once"), f("marketing")],
                "conditions": conditions,
                "conditions_count": _field(values, errors, p + "conditions"),
                "conditions_errors": errors.get(p + "conditions", []),
                "variants": variants,
                "variants_count": _field(values, errors, p + "variants"),
                "variants_errors": errors.get(p + "variants", []),
                "holdout": f("holdout"),
                "experiment": f("experiment"),
                "has_email": values.get(p + "kind") in EMAIL_KINDS,
                "open": bool([key for key in errors if key.startswith(p)] or errors.get(f"r{i}")),
            }
        )
    return shown


def _registered_kinds() -> tuple[str, ...]:
    return tuple(conf.DELIVERY_HANDLERS)


def _tiers_view(values: Mapping[str, str], errors: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    return [
        {part: _field(values, errors, f"t{k}-{part}") for part in ("tier", "currency", "amount")}
        for k in range(_count(values, "tiers", TIERS_MAX))
    ]


def _progress(change: RuleBookChange | None, words: Mapping[str, str]) -> dict[str, Any] | None:
    if change is None:
        return None
    done, total = change.rebuild_done, change.rebuild_total
    finished = change.rebuild_finished_at is not None
    if finished and change.rebuild_outcome == "done":
        text = words["progress_done"].format(done=f"{done:,}", total=f"{total or 0:,}")
    elif finished:
        text = words["progress_superseded"]
    elif change.rebuild_outcome:
        text = words["progress_stopped"].format(outcome=change.rebuild_outcome)
    elif change.rebuild_started_at is None:
        text = words["progress_waiting"]
    else:
        text = words["progress_running"].format(done=f"{done:,}", total=f"{total or 0:,}")
    return {
        "text": text,
        "done": done,
        "total": total or 0,
        "finished": finished,
        "stuck": not finished and (change.rebuild_started_at is None or bool(change.rebuild_outcome)),
    }


def _words(request: HttpRequest) -> dict[str, str]:
    return views.texts(views.staff_language(request, request.conveyor_staff), TEXTS)  # type: ignore[attr-defined]


def _page(
    request: HttpRequest,
    values: Mapping[str, str],
    errors: Mapping[str, list[str]],
    *,
    status: int = 200,
    refused: list[dict[str, str]] | None = None,
    notice: str = "",
) -> HttpResponse:
    words = _words(request)
    using = get_host().replica_alias()
    history = list(RuleBookChange.objects.using(using).order_by("-created_at", "-id")[:HISTORY_SHOWN])
    latest = history[0] if history else None
    context = {
        "rules": _rules_view(values, errors, words),
        "tiers": _tiers_view(values, errors),
        "tiers_count": values.get("tiers", "0"),
        "rules_count": values.get("rules", "0"),
        "based_on": values.get("based_on", ""),
        "lapse": _field(values, errors, "lapse_days"),
        "tiers_errors": errors.get("tiers", []),
        "book_errors": errors.get("rules", []),
        "refused": refused or [],
        "refused_text": words["refused"].format(count=len(refused or [])),
        "notice": notice,
        "conditions": list(CONDITIONS),
        "action": console_url(request, "rules"),
        "preview_url": console_url(request, "rules-preview"),
        "progress_url": console_url(request, "rules-progress"),
        "progress": _progress(latest, words),
        "history": history,
        "languages": PREVIEW_LANGUAGES,
    }
    return render_console(request, "rules.html", context, words=TEXTS, status=status)


def _refused_form(request: HttpRequest, refused: list[ConveyorError], where: Mapping[str, Any]) -> HttpResponse:
    values = {key: value for key, value in request.POST.items()}
    errors: dict[str, list[str]] = {}
    summary = []
    for error in refused:
        target = field_for(error.field or "", where)
        errors.setdefault(target, []).append(error.message)
        summary.append({"target": target, "message": error.message})
    return _page(request, values, errors, status=400, refused=summary)


@staff_form
@console_page(MANAGE_PLUGINS)
def rules_page(request: HttpRequest) -> HttpResponse:
    """GET: the rule book in force as a form. POST: save it (`action=save`), test-send a preview, or restart the
    rebuild; a refused book comes back with each message beside its field and nothing saved."""
    words = _words(request)
    if request.method == "POST":
        if pages._unreadable(request.POST):
            context = {"reason": "bad_input", "heading": words["rules_title"], "message": words["bad_value"]}
            return render_console(request, "notice.html", context, words=TEXTS, status=400)
        action = request.POST.get("action", "save")
        if action == "test_send":
            return _test_send(request, words)
        if action == "rebuild":
            latest = conveyor.latest_change()
            if latest is None:  # nothing was ever saved here: no rebuild to start
                return HttpResponseRedirect(console_url(request, "rules"))
            started = delivery.start_rebuild(change=latest)
            return HttpResponseRedirect(console_url(request, "rules", done="restarted" if started else "not_started"))
        book, where = book_from_form(request.POST)
        refused = conveyor.rule_book.refused_entries(book)
        if refused:
            return _refused_form(request, refused, where)
        identity = request.conveyor_staff  # type: ignore[attr-defined]
        try:
            change = conveyor.update_rule_book(book, by=identity.email, based_on=request.POST.get("based_on") or None)
        except ConveyorError as error:  # the host refused it (Saleor's own validation of the configuration)
            return _refused_form(request, list(getattr(error, "errors", None) or [error]), where)
        return HttpResponseRedirect(console_url(request, "rules", done="saved" if change else "unchanged"))
    notice = {key: words[key] for key in ("saved", "unchanged", "restarted", "not_started")}
    sent = request.GET.get("sent", "")
    text = notice.get(request.GET.get("done", ""), "")
    if sent == "ok":
        text = words["test_sent"].format(email=request.conveyor_staff.email)  # type: ignore[attr-defined]
    elif sent == "failed":
        text = words["test_failed"].format(reason="mail")
    book = get_config().rule_book.to_data()
    values = {**form_from_book(book), "based_on": conveyor.rule_book.fingerprint(book)}
    return _page(request, values, {}, notice=text)


@console_page(MANAGE_PLUGINS)
def rules_progress(request: HttpRequest) -> HttpResponse:
    """The last save's rebuild, as JSON for the page's poll (done, total, finished, text)."""
    progress = _progress(conveyor.latest_change(using=get_host().replica_alias()), _words(request))
    response = JsonResponse(progress or {"finished": True, "text": "", "done": 0, "total": 0})
    response["Cache-Control"] = "no-store"
    return response


# --- previews and the test send ---------------------------------------------------------------


def sample_email(
    rule: Rule, language: str, config: ConveyorConfig, *, email: str, variant: str = ""
) -> mail.RenderedEmail:
    """The rule's email in one language for a sample customer (no profile, no token: links point to the
    storefront), as delivery renders it; raises mail.TemplateError when it cannot be made."""
    sample = SAMPLE.get(language, SAMPLE["en"])
    profile = FanProfile(id=0, email=email, first_name=sample["first_name"], language_code=language)
    touchpoint = Touchpoint(id=0, rule=rule.name, order_id=sample["order"], marketing=rule.marketing)
    template = rule.template_for(variant)
    context = mail.email_context(touchpoint, profile, config, template=template, language=language)
    preview_link = f"{config.storefront_url or ''}#preview"
    for key in list(context):
        if key.endswith("_url") and key != "storefront_url" and context[key]:
            context[key] = preview_link
    context["coupon_code"] = "SAMPLE-1234" if rule.kind == "COUPON" else context.get("coupon_code", "")
    if template == mail.NPS_TEMPLATE:
        context["nps_scores"] = [{"score": str(score), "url": preview_link} for score in range(11)]
    return mail.render_email(template, language, context, config)


def _preview_target(request: HttpRequest, source: Mapping[str, str]) -> tuple[Rule | None, str, str]:
    config = get_config()
    rule = config.rule_book.rule(source.get("rule", "")[:64])
    language = source.get("lang_preview", source.get("language", "ja"))
    language = language if language in PREVIEW_LANGUAGES else "ja"
    variant = source.get("variant", "")[:64]
    return rule, language, variant


@console_page(MANAGE_PLUGINS)
def rules_preview(request: HttpRequest) -> HttpResponse:
    """One rule's email in Japanese or English for a sample customer, with a button to test-send it."""
    words = _words(request)
    rule, language, variant = _preview_target(request, request.GET)
    if rule is None or rule.kind not in EMAIL_KINDS:
        context = {"reason": "not_found", "heading": words["preview"], "message": words["back_to_rules"]}
        return render_console(request, "notice.html", context, words=TEXTS, status=404)
    identity = request.conveyor_staff  # type: ignore[attr-defined]
    try:
        email = sample_email(rule, language, get_config(), email=identity.email, variant=variant)
        problem = ""
    except mail.TemplateError as error:
        email, problem = None, str(error)
    context = {
        "rule": rule,
        "preview_language": language,
        "variant": variant,
        "email": email,
        "problem": words["no_preview"].format(reason=problem) if problem else "",
        "heading": words["preview_title"].format(rule=rule.name),
        "sample_note": words["sample_note"].format(name=SAMPLE[language]["first_name"]),
        "action": console_url(request, "rules"),
        "back_url": console_url(request, "rules"),
        "other_languages": [
            {
                "code": code,
                "label": words[f"preview_{code}"],
                "url": console_url(
                    request, "rules-preview", rule=rule.name, lang_preview=code, variant=variant or None
                ),
                "current": code == language,
            }
            for code in PREVIEW_LANGUAGES
        ],
        "srcdoc": email.html if email else "",
    }
    return render_console(request, "rules_preview.html", context, words=TEXTS)


def _test_send(request: HttpRequest, words: Mapping[str, str]) -> HttpResponse:
    """The previewed email, to the staff member's own address only, through the host's mail."""
    rule, language, variant = _preview_target(request, request.POST)
    identity = request.conveyor_staff  # type: ignore[attr-defined]
    if rule is None or rule.kind not in EMAIL_KINDS or not identity.email:
        return HttpResponseRedirect(console_url(request, "rules", sent="failed"))
    config = get_config()
    try:
        email = sample_email(rule, language, config, email=identity.email, variant=variant)
        message = EmailMultiAlternatives(
            subject=f"[{words['preview']}] {email.subject}",
            body=email.text,
            from_email=mail.sender(config),
            to=[identity.email],
            headers={"Content-Language": language, "X-Conveyor-Preview": rule.name},
        )
        message.attach_alternative(email.html, "text/html")
        get_host().send_mail(message)
    except Exception:  # a template that does not render, a mail server that is down: say so, change nothing
        return HttpResponseRedirect(console_url(request, "rules", sent="failed"))
    return HttpResponseRedirect(console_url(request, "rules", sent="ok"))
