"""The console's shared words in Japanese and English (each page module adds its own catalog)."""

from __future__ import annotations

from ..pages.texts import texts as _merge

COMMON: dict[str, dict[str, str]] = {
    "ja": {
        "console": "ファン・コンベヤー",
        "switch_language": "English",
        "sign_in": "サインイン",
        "sign_in_title": "スタッフとしてサインイン",
        "sign_in_hint": "ショップのスタッフアカウントのメールアドレスとパスワードを入力してください。",
        "email": "メールアドレス",
        "password": "パスワード",
        "sign_in_failed": "メールアドレスかパスワードが違うか、スタッフ権限がありません。",
        "sign_out": "サインアウト",
        "refused_title": "このページを見る権限がありません",
        "refused_body": "必要な権限: {permission}。ショップの管理者に権限の追加を依頼してください。",
        "download_csv": "CSV をダウンロード",
        "show_table": "数値を表で見る",
        # Navigation labels of pages whose own words are not on every page.
        "customers": "顧客",
        "nav_overview": "概要",
        "rules_nav": "ルール",  # the rule editor's navigation entry, shown on every page (console/rules.py)
    },
    "en": {
        "console": "Fan Conveyor",
        "switch_language": "日本語",
        "sign_in": "Sign in",
        "sign_in_title": "Sign in as staff",
        "sign_in_hint": "Use the email address and password of your shop's staff account.",
        "email": "Email address",
        "password": "Password",
        "sign_in_failed": "The email address or password is wrong, or the account is not staff.",
        "sign_out": "Sign out",
        "refused_title": "You may not see this page",
        "refused_body": "It needs the {permission} permission. Ask your shop's administrator to add it.",
        "download_csv": "Download CSV",
        "show_table": "Show the numbers as a table",
        # Navigation labels of pages whose own words are not on every page.
        "customers": "Customers",
        "nav_overview": "Overview",
        "rules_nav": "Rules",  # the rule editor's navigation entry, shown on every page (console/rules.py)
    },
}


def texts(language: str, *extra: dict[str, dict[str, str]]) -> dict[str, str]:
    """The console's common words and a page's own, in one language."""
    return _merge(language, COMMON, *extra)
