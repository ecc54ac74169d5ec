"""``/healthz``: is this process able to serve (database reachable, Redis reachable when configured)?"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from webapp.extensions import db

bp = Blueprint("health", __name__)


def _check_redis(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"unreachable: {error.__class__.__name__}"
    finally:
        client.close()
    return "ok"


def _sqlite_writable() -> bool:
    """On SQLite (one writer at a time), can a write begin within a second? Elsewhere always True."""
    url = sa.engine.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or not url.database:
        return True
    probe = sqlite3.connect(url.database, timeout=1.0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


@bp.route("/healthz")
def healthz():
    checks: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok" if _sqlite_writable() else "busy: the write lock is held"
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        checks["database"] = f"unreachable: {error.__class__.__name__}"
    redis_url = current_app.config["YANXUN"]["REDIS_URL"]
    checks["redis"] = _check_redis(redis_url) if redis_url else "not configured"
    healthy = all(value in {"ok", "not configured"} for value in checks.values())
    return jsonify({"status": "ok" if healthy else "degraded", "checks": checks}), 200 if healthy else 503
