import pytest

from webapp.config import ConfigError, load_config, normalise_database_url


def test_embedded_default_generates_and_keeps_a_secret(tmp_path):
    first = load_config(str(tmp_path), environ={})
    second = load_config(str(tmp_path), environ={})
    assert len(first["SECRET_KEY"]) >= 32
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert first["DATABASE_URL"] == f"sqlite:///{tmp_path / 'yanxun.db'}"


def test_production_requires_a_secret(tmp_path):
    with pytest.raises(ConfigError, match="YANXUN_SECRET_KEY is required"):
        load_config(str(tmp_path), environ={"YANXUN_ENV": "production", "YANXUN_DATABASE_URL": "postgresql://x/y"})


def test_production_rejects_a_short_secret(tmp_path):
    with pytest.raises(ConfigError, match="too short"):
        load_config(str(tmp_path), environ={"YANXUN_ENV": "production", "YANXUN_SECRET_KEY": "short",
                                            "YANXUN_DATABASE_URL": "postgresql://x/y"})


def test_production_requires_a_database(tmp_path):
    with pytest.raises(ConfigError, match="YANXUN_DATABASE_URL"):
        load_config(str(tmp_path), environ={"YANXUN_ENV": "production", "YANXUN_SECRET_KEY": "k" * 40})


def test_environment_values_are_typed(tmp_path):
    settings = load_config(str(tmp_path), environ={"YANXUN_LOGIN_MAX_FAILURES": "9",
                                                   "YANXUN_SESSION_COOKIE_SECURE": "true"})
    assert settings["LOGIN_MAX_FAILURES"] == 9
    assert settings["SESSION_COOKIE_SECURE"] is True


def test_bad_number_is_named(tmp_path):
    with pytest.raises(ConfigError, match="YANXUN_LOGIN_MAX_FAILURES"):
        load_config(str(tmp_path), environ={"YANXUN_LOGIN_MAX_FAILURES": "many"})


def test_unknown_env_mode(tmp_path):
    with pytest.raises(ConfigError, match="YANXUN_ENV"):
        load_config(str(tmp_path), environ={"YANXUN_ENV": "staging"})


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_email_needs_a_public_base_url(tmp_path):
    """Links in emails come from YANXUN_PUBLIC_BASE_URL only (never a request's Host), so email needs it."""
    with pytest.raises(ConfigError, match="YANXUN_PUBLIC_BASE_URL is required when YANXUN_SMTP_HOST is set"):
        load_config(str(tmp_path), environ={"YANXUN_SMTP_HOST": "smtp.school.test"})
    settings = load_config(str(tmp_path), environ={"YANXUN_SMTP_HOST": "smtp.school.test",
                                                   "YANXUN_PUBLIC_BASE_URL": "https://yanxun.school.test"})
    assert settings["PUBLIC_BASE_URL"] == "https://yanxun.school.test"
    assert load_config(str(tmp_path), environ={})["PUBLIC_BASE_URL"] is None, "no email, no links: not needed"


@pytest.mark.parametrize("value", ["yanxun.school.test", "javascript:alert(1)", "https://", "https://x.test/?a=1",
                                   "https://user:pw@x.test"])
def test_public_base_url_must_be_a_web_address(tmp_path, value):
    with pytest.raises(ConfigError, match="YANXUN_PUBLIC_BASE_URL must be an http"):
        load_config(str(tmp_path), environ={"YANXUN_PUBLIC_BASE_URL": value})


def test_production_cookies_are_secure_and_remember_me_lasts_30_days(tmp_path):
    from datetime import timedelta

    from webapp.config import flask_settings

    production = flask_settings(load_config(str(tmp_path), environ={
        "YANXUN_ENV": "production", "YANXUN_SECRET_KEY": "k" * 40, "YANXUN_DATABASE_URL": "postgresql://x/y"}))
    assert production["SESSION_COOKIE_SECURE"] and production["REMEMBER_COOKIE_SECURE"]
    assert production["REMEMBER_COOKIE_SAMESITE"] == "Lax" and production["REMEMBER_COOKIE_HTTPONLY"]
    assert production["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)
    embedded = flask_settings(load_config(str(tmp_path), environ={}))
    assert not embedded["REMEMBER_COOKIE_SECURE"], "make run serves plain HTTP on the loopback"


@pytest.mark.parametrize("key", ["REMEMBER_DAYS", "SESSION_IDLE_HOURS", "LOGIN_MAX_FAILURES",
                                 "LOGIN_MAX_FAILURES_PER_IP"])
def test_login_settings_must_be_positive(tmp_path, key):
    with pytest.raises(ConfigError, match=f"YANXUN_{key} must be at least 1"):
        load_config(str(tmp_path), environ={f"YANXUN_{key}": "0"})


def test_today_is_the_day_in_the_configured_time_zone(app):
    """A teacher's "as of today", role validity and a certificate's date change at midnight in Asia/Shanghai,
    not at the server's midnight (UTC on our machines): between 00:00 and 08:00 Beijing time they differ."""
    import time
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    assert app.config["YANXUN"]["TIMEZONE"] == "Asia/Shanghai"
    assert time.localtime().tm_gmtoff == 8 * 3600
    assert date.today() == datetime.now(ZoneInfo("Asia/Shanghai")).date()
