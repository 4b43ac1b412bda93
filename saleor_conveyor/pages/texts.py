"""The words every customer page shares, in the languages the pages ship (each page module adds its own)."""

from __future__ import annotations

PAGE_LANGUAGES = ("ja", "en")

COMMON: dict[str, dict[str, str]] = {
    "ja": {
        "language_name": "日本語",
        "switch_language": "English",
        "skip_to_content": "本文へ移動",
        "send": "送信する",
        "required": "必須",
        "optional": "任意",
        "back_to_shop": "ショップへ戻る",
        "contact_us": "お問い合わせ",
        "link_invalid_title": "このリンクは使えません",
        "link_invalid_body": (
            "リンクが正しくないか、途中で切れている可能性があります。メールのリンクをもう一度開いてください。"
        ),
        "link_expired_title": "このリンクの有効期限が切れました",
        "link_expired_body": "お手数ですが、最新のメールのリンクをお使いください。",
        "link_what_next": "ご不明な点は、お問い合わせフォームからご連絡ください。",
        "bad_input_title": "送信内容を読み取れませんでした",
        "bad_input_body": (
            "読み取れない文字が含まれていました。内容を確かめて、もう一度お試しください。何も保存していません。"
        ),
        "csrf_title": "送信を受け付けられませんでした",
        "csrf_body": (
            "ページが古くなったか、別のサイトから送信されました。ページを再読み込みしてから、もう一度送信してください。何も保存していません。"
        ),
        "not_found_title": "ページが見つかりません",
        "not_found_body": "お探しのページはありません。",
    },
    "en": {
        "language_name": "English",
        "switch_language": "日本語",
        "skip_to_content": "Skip to content",
        "send": "Send",
        "required": "required",
        "optional": "optional",
        "back_to_shop": "Back to the shop",
        "contact_us": "Contact us",
        "link_invalid_title": "This link does not work",
        "link_invalid_body": "The link may be incomplete or changed. Please open the link in the email again.",
        "link_expired_title": "This link has expired",
        "link_expired_body": "Please use the link in our most recent email.",
        "link_what_next": "If you need anything, please write to us through the contact form.",
        "bad_input_title": "We could not read what was sent",
        "bad_input_body": "It contained characters we cannot read. Please check it and try again. Nothing was saved.",
        "csrf_title": "We could not accept this form",
        "csrf_body": "The page was out of date or the form was sent from another site. "
        "Please reload the page and send it again. Nothing was saved.",
        "not_found_title": "Page not found",
        "not_found_body": "There is no page here.",
    },
}


def texts(language: str, *extra: dict[str, dict[str, str]]) -> dict[str, str]:
    """The common words and a page's own, in one language (English where a word is missing)."""
    merged: dict[str, str] = {}
    for catalog in (COMMON, *extra):
        merged.update(catalog.get("en", {}))
        merged.update(catalog.get(language, {}))
    return merged
