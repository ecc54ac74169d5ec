"""YanXun (研训): workflow and approval system for school-based teacher training."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask

from webapp.config import flask_settings, load_config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides settings (``DATABASE_URL``...) and Flask keys (``TESTING``...)."""
    app = Flask(__name__, instance_relative_config=False)
    settings = load_config(app.instance_path, overrides=config)
    app.config.update(flask_settings(settings))
    _use_local_days(settings["TIMEZONE"])
    if config:
        app.config.update({k: v for k, v in config.items() if k.isupper() and k not in settings})
    if settings["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from webapp import background, cli, errors, extensions, headers, i18n, jobs, labels, security, templating
    from webapp.services import runtime

    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db, directory=str(_project_path("migrations")),
                                render_as_batch=True, compare_type=True)
    extensions.csrf.init_app(app)
    i18n.init_app(app)
    labels.init_app(app)
    templating.init_app(app)
    security.init_app(app)
    headers.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    jobs.init_app(app)
    background.init_app(app)
    runtime.configure(settings)
    from webapp.services import campaigns

    campaigns.register_handlers()  # the core's own service topic (campaign.remind)

    from webapp.admin import bp as admin_bp
    from webapp.api import bp as api_bp
    from webapp.auth import bp as auth_bp
    from webapp.campaigns import bp as campaigns_bp
    from webapp.health import bp as health_bp
    from webapp.home import bp as home_bp
    from webapp.inbox import bp as inbox_bp
    from webapp.ledger import bp as ledger_bp
    from webapp.ledger import verify_bp
    from webapp.notifications import bp as notifications_bp
    from webapp.recognition import bp as recognition_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(inbox_bp)
    app.register_blueprint(ledger_bp)
    app.register_blueprint(recognition_bp)
    app.register_blueprint(verify_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(campaigns_bp)

    from webapp.processes import credit_application, semester_summary

    # Each process registers itself: the generic layers never import one.
    for package in (credit_application, semester_summary):
        package.register(app)
    return app


def _project_path(name: str):
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / name


def _use_local_days(zone: str) -> None:
    """"Today" is the day in the configured time zone (Asia/Shanghai), not the server's: a teacher's standing,
    a role's or substitute's validity and a certificate's date change at local midnight. Times are stored in
    UTC either way (timezone-aware); this sets the process's local zone, which ``date.today()`` reads."""
    if os.environ.get("TZ") != zone:
        os.environ["TZ"] = zone
        time.tzset()
