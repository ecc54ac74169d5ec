"""Configuration: documented defaults, overridden by ``YANXUN_*`` environment variables, validated at start."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(RuntimeError):
    """The configuration cannot run; the message says what to set."""


#: Every setting the application reads, with its default. Environment variables named
#: ``YANXUN_<KEY>`` override them (``YANXUN_DATABASE_URL``, ``YANXUN_SECRET_KEY``, ...).
DEFAULTS: dict[str, Any] = {
    # "embedded" (SQLite, generated secret, single process) or "production" (strict checks).
    "ENV": "embedded",
    "SECRET_KEY": None,
    # None means SQLite under the instance folder.
    "DATABASE_URL": None,
    "REDIS_URL": None,
    "DEFAULT_LOCALE": "zh_CN",
    "LOCALES": "zh_CN,en",
    "TIMEZONE": "Asia/Shanghai",
    # Login throttling: after this many wrong passwords in a row for a login name, each further attempt for it has
    # to wait 2^(failures - LOGIN_MAX_FAILURES) seconds, at most LOGIN_MAX_DELAY_MINUTES; the failures are
    # forgotten after LOGIN_FAILURE_WINDOW_MINUTES without one (or a log-in). One address (a school's shared
    # one, say) may fail LOGIN_MAX_FAILURES_PER_IP times in that window before it has to wait for it to pass.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_MAX_DELAY_MINUTES": 15,
    "LOGIN_FAILURE_WINDOW_MINUTES": 15,
    "LOGIN_MAX_FAILURES_PER_IP": 200,
    # A log-in ends after this many hours without use; with "keep me logged in", this many days after it began.
    # Logging out, a password change or ending it on the account's security page ends it at once.
    "SESSION_IDLE_HOURS": 12,
    "REMEMBER_DAYS": 30,
    # Production answers carry Strict-Transport-Security for this many seconds (0: not sent).
    "HSTS_SECONDS": 365 * 24 * 3600,
    "PASSWORD_MIN_LENGTH": 8,
    # Everyone may name their own substitute (代理人) for at most this many days at a time.
    "SUBSTITUTE_MAX_DAYS": 90,
    "CSV_IMPORT_MAX_BYTES": 5 * 1024 * 1024,
    "PAGE_SIZE": 30,
    # Evidence files of credit applications: where they are kept (None: instance/evidence), how big one may be,
    # how many one application may have, and which file types are accepted.
    "EVIDENCE_DIR": None,
    "EVIDENCE_MAX_BYTES": 10 * 1024 * 1024,
    "EVIDENCE_MAX_FILES": 5,
    "EVIDENCE_TYPES": "pdf,jpg,png,docx",
    # Credit applications: categories recognised by whom need the county's recognition; review reminders and
    # escalation (ISO 8601 durations).
    "CREDIT_COUNTY_RECOGNISERS": "county,city,provider",
    "CREDIT_REMINDER_AFTER": "P3D",
    "CREDIT_ESCALATE_AFTER": "P7D",
    "SESSION_COOKIE_SECURE": False,
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host (0 = none; trust nothing).
    "TRUSTED_PROXIES": 0,
    # Due workflow timers are fired every this many seconds: by the served app itself without Redis, by Celery
    # beat with it (0: never).
    "TIMER_TICK_SECONDS": 30,
    # With Redis, Celery beat also sends the notification emails still waiting this often (0: never); after a
    # Redis outage this sweep delivers what the web app could not hand to the queue.
    "NOTIFICATION_SWEEP_SECONDS": 60,
    # With Redis, everyone with open tasks gets one email a day listing them, at this hour (0-23) in TIMEZONE;
    # empty or "off" turns the digest off. Needs SMTP_HOST.
    "DIGEST_HOUR": 7,
    # A service task whose handler runs on a worker (async topic) is tried this many times, waiting
    # SERVICE_RETRY_SECONDS × 2^(attempt−1) (at most an hour) in between, before it becomes an incident.
    "SERVICE_MAX_ATTEMPTS": 5,
    "SERVICE_RETRY_SECONDS": 30,
    # A background job is asked to stop after the soft limit (its transaction rolls back) and killed at the hard one.
    "JOB_SOFT_TIME_LIMIT_SECONDS": 300,
    "JOB_TIME_LIMIT_SECONDS": 360,
    # The budget of one engine step (a start, a completion, a timer, a service result), in the web, the ticker
    # and the workers alike: seconds of designers' scripts and Python expressions (wall clock), the memory a
    # script may take, the process data it may leave, and how many tasks may complete without anyone waiting.
    # Past any of them the step rolls back and the instance gets an incident naming the element.
    "ENGINE_STEP_SECONDS": 5,
    "ENGINE_MEMORY_MB": 256,
    "ENGINE_DATA_KB": 2048,
    "ENGINE_MAX_STEPS": 1000,
    # Email copies of notifications. No SMTP_HOST = email off (the bell still works).
    "SMTP_HOST": None,
    "SMTP_PORT": 587,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    # "starttls" (port 587), "ssl" (implicit TLS, port 465) or "none" (a relay on the local network).
    "SMTP_SECURITY": "starttls",
    # The From address; SMTP_USER is used when empty.
    "SMTP_FROM": None,
    "SMTP_TIMEOUT_SECONDS": 10,
    # Send pending emails right after each response that created notifications (False: only
    # ``flask --app webapp notifications send`` from cron, or the job queue, sends them).
    "SMTP_SEND_AFTER_REQUEST": True,
    # Where links in emails point, e.g. https://yanxun.example.edu.cn; required once SMTP_HOST is set (links are
    # never taken from a request's Host header, which the client chooses).
    "PUBLIC_BASE_URL": None,
}

_INT_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, int) and not isinstance(v, bool)}
#: Whole numbers that an empty value or "off" turns off (None).
_OPTIONAL_INT_KEYS = {"DIGEST_HOUR"}
_BOOL_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, bool)}
MIN_SECRET_KEY_LENGTH = 32


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in DEFAULTS:
        raw = environ.get(f"YANXUN_{key}")
        if key in _OPTIONAL_INT_KEYS and raw is not None and raw.strip().lower() in {"", "off", "none"}:
            values[key] = None
            continue
        if raw is None or raw == "":
            continue
        if key in _INT_KEYS:
            try:
                values[key] = int(raw)
            except ValueError as exc:
                raise ConfigError(f"YANXUN_{key} must be a whole number, got {raw!r}") from exc
        elif key in _BOOL_KEYS:
            values[key] = raw.strip().lower() in {"1", "true", "yes", "on"}
        else:
            values[key] = raw
    return values


def normalise_database_url(url: str) -> str:
    """Let operators write ``postgresql://`` and still get the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _embedded_secret_key(instance_path: Path) -> str:
    """Generate the embedded default's secret once and keep it under ``instance/``."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key, encoding="utf-8")
    path.chmod(0o600)
    return key


def load_config(instance_path: str, overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the validated settings: defaults, then the environment, then explicit overrides."""
    settings: dict[str, Any] = dict(DEFAULTS)
    settings.update(_from_environment(os.environ if environ is None else environ))
    if overrides:
        settings.update({k: v for k, v in overrides.items() if k in DEFAULTS})
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)

    env = settings["ENV"]
    if env not in {"embedded", "production"}:
        raise ConfigError(f"YANXUN_ENV must be 'embedded' or 'production', got {env!r}")
    secret = settings["SECRET_KEY"]
    if env == "production":
        if not secret:
            raise ConfigError("YANXUN_SECRET_KEY is required in production: set it to a random string of at "
                              f"least {MIN_SECRET_KEY_LENGTH} characters (python -c 'import secrets; "
                              "print(secrets.token_urlsafe(48))').")
        if len(secret) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(f"YANXUN_SECRET_KEY is too short ({len(secret)} characters); production needs at "
                              f"least {MIN_SECRET_KEY_LENGTH}.")
        if not settings["DATABASE_URL"]:
            raise ConfigError("YANXUN_DATABASE_URL is required in production (postgresql://user:pass@host/db).")
    elif not secret:
        settings["SECRET_KEY"] = _embedded_secret_key(instance)

    url = settings["DATABASE_URL"] or f"sqlite:///{instance / 'yanxun.db'}"
    settings["DATABASE_URL"] = normalise_database_url(url)
    locales = [code.strip() for code in str(settings["LOCALES"]).split(",") if code.strip()]
    if settings["DEFAULT_LOCALE"] not in locales:
        raise ConfigError(f"YANXUN_DEFAULT_LOCALE {settings['DEFAULT_LOCALE']!r} is not in YANXUN_LOCALES {locales}")
    settings["LOCALES"] = locales
    _check_background_work(settings)
    _check_logins(settings)
    if settings["SUBSTITUTE_MAX_DAYS"] < 1:
        raise ConfigError(f"YANXUN_SUBSTITUTE_MAX_DAYS must be at least 1, got {settings['SUBSTITUTE_MAX_DAYS']}")
    _check_email(settings)
    return settings


def _check_logins(settings: Mapping[str, Any]) -> None:
    for key in ("LOGIN_MAX_FAILURES", "LOGIN_MAX_DELAY_MINUTES", "LOGIN_FAILURE_WINDOW_MINUTES",
                "LOGIN_MAX_FAILURES_PER_IP", "SESSION_IDLE_HOURS", "REMEMBER_DAYS"):
        if settings[key] < 1:
            raise ConfigError(f"YANXUN_{key} must be at least 1, got {settings[key]}")
    if settings["HSTS_SECONDS"] < 0:
        raise ConfigError(f"YANXUN_HSTS_SECONDS must be 0 (off) or a number of seconds, got {settings['HSTS_SECONDS']}")


def _check_email(settings: Mapping[str, Any]) -> None:
    """With SMTP on, emails carry links: they need the site's public address, never a request's Host header."""
    base = settings["PUBLIC_BASE_URL"]
    if not base:
        if settings["SMTP_HOST"]:
            raise ConfigError("YANXUN_PUBLIC_BASE_URL is required when YANXUN_SMTP_HOST is set: the address people "
                              "open YanXun at, e.g. https://yanxun.example.edu.cn (links in emails point there).")
        return
    parts = urlsplit(base)
    if (parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment
            or parts.username or parts.password):
        raise ConfigError(f"YANXUN_PUBLIC_BASE_URL must be an http(s) address like https://yanxun.example.edu.cn "
                          f"(optionally with a path), got {base!r}")


def _check_background_work(settings: Mapping[str, Any]) -> None:
    for key in ("TIMER_TICK_SECONDS", "NOTIFICATION_SWEEP_SECONDS"):
        if settings[key] < 0:
            raise ConfigError(f"YANXUN_{key} must be 0 (off) or a number of seconds, got {settings[key]}")
    hour = settings["DIGEST_HOUR"]
    if hour is not None and not (isinstance(hour, int) and 0 <= hour <= 23):
        raise ConfigError(f"YANXUN_DIGEST_HOUR must be an hour from 0 to 23, or empty to turn the digest off; "
                          f"got {hour!r}")
    for key in ("SERVICE_MAX_ATTEMPTS", "SERVICE_RETRY_SECONDS"):
        if settings[key] < 1:
            raise ConfigError(f"YANXUN_{key} must be at least 1, got {settings[key]}")
    soft, hard = settings["JOB_SOFT_TIME_LIMIT_SECONDS"], settings["JOB_TIME_LIMIT_SECONDS"]
    if not 0 < soft < hard:
        raise ConfigError(f"YANXUN_JOB_SOFT_TIME_LIMIT_SECONDS ({soft}) must be positive and below "
                          f"YANXUN_JOB_TIME_LIMIT_SECONDS ({hard})")
    for key in ("ENGINE_STEP_SECONDS", "ENGINE_MEMORY_MB", "ENGINE_DATA_KB", "ENGINE_MAX_STEPS"):
        if settings[key] < 1:
            raise ConfigError(f"YANXUN_{key} must be at least 1, got {settings[key]}")
    try:
        ZoneInfo(settings["TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"YANXUN_TIMEZONE {settings['TIMEZONE']!r} is not a known time zone "
                          "(e.g. Asia/Shanghai)") from error


def flask_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Translate our settings into the keys Flask and its extensions read."""
    secure = settings["SESSION_COOKIE_SECURE"] or settings["ENV"] == "production"
    return {
        "YANXUN": dict(settings),
        "SECRET_KEY": settings["SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": settings["DATABASE_URL"],
        # hide_parameters: statements in errors and logs never show their values (password hashes, say).
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "BABEL_DEFAULT_LOCALE": settings["DEFAULT_LOCALE"],
        "BABEL_DEFAULT_TIMEZONE": settings["TIMEZONE"],
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        # The remember-me cookie holds the same session key as the session cookie (webapp.security): ending the
        # log-in ends both.
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_DURATION": timedelta(days=settings["REMEMBER_DAYS"]),
        "MAX_CONTENT_LENGTH": max(settings["CSV_IMPORT_MAX_BYTES"], 1024 * 1024,
                                  settings["EVIDENCE_MAX_BYTES"] * settings["EVIDENCE_MAX_FILES"] + 1024 * 1024),
        "WTF_CSRF_TIME_LIMIT": None,
    }
