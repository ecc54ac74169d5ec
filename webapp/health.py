"""``/healthz``: is this process able to serve (database reachable, Redis reachable when configured)?"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from webapp.extensions import SQLITE_BUSY_TIMEOUT_MS, db

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
    if db.engine.dialect.name != "sqlite":
        return True
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA busy_timeout=1000")
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return False
        finally:
            raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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
