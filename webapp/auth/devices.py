"""A short name for the device behind a session, from its User-Agent: "Chrome · Android", "微信 · iPhone"."""

from __future__ import annotations

from flask_babel import gettext as _

#: (marker in the User-Agent, name), the first match wins: in-app browsers before the engines they embed,
#: Edge before Chrome, Chrome before Safari (every Chrome says "Safari" too).
_BROWSERS = (("MicroMessenger", "wechat"), ("DingTalk", "dingtalk"), ("Lark", "feishu"), ("Edg/", "Edge"),
             ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("CriOS/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("HarmonyOS", "HarmonyOS"), ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux"))


def _app_name(code: str) -> str:
    return {"wechat": _("WeChat"), "dingtalk": _("DingTalk"), "feishu": _("Feishu")}.get(code, code)


def describe_device(user_agent: str | None) -> str:
    """Browser and system in a few words; "Unknown device" when the User-Agent says nothing we know."""
    agent = user_agent or ""
    browser = next((_app_name(name) for marker, name in _BROWSERS if marker in agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in agent), None)
    parts = [part for part in (browser, system) if part]
    return " · ".join(parts) if parts else _("Unknown device")
