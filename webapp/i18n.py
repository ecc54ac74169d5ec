"""Language selection: the user's saved choice, then the session's, then the default (zh_CN).

Babel spells zh_CN as ``zh_Hans_CN``, so the Chinese catalogue lives in ``translations/zh_Hans_CN``.
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, session
from flask_babel import get_locale
from flask_login import current_user

from webapp.extensions import babel

#: How each available language names itself in the switcher.
LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}


def select_locale() -> str:
    available = current_app.config["YANXUN"]["LOCALES"]
    if not has_request_context():  # CLI commands and background jobs
        return current_app.config["YANXUN"]["DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in available:
        return current_user.locale
    chosen = session.get("locale")
    if chosen in available:
        return chosen
    return current_app.config["YANXUN"]["DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(app.root_path) + "/translations")

    @app.context_processor
    def _languages() -> dict:
        locale = get_locale()
        code = f"{locale.language}_{locale.territory}" if locale.territory else locale.language
        return {
            "current_locale": code,
            "html_lang": code.replace("_", "-"),
            "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in app.config["YANXUN"]["LOCALES"]],
        }
