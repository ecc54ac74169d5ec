"""Fixtures of the web tests."""

import pytest


@pytest.fixture
def admin_client(client, make_user, region):
    make_user("admin1", roles=(("admin", region["city"]),))
    client.login("admin1")
    client.post_form("/auth/language", {"locale": "en"})
    return client


@pytest.fixture
def clock(monkeypatch):
    """The log-in throttle's clock, standing still until moved with ``clock.advance(seconds)``."""
    from datetime import timedelta

    from webapp.models.base import utcnow
    from webapp.services import auth

    class Clock:
        now = utcnow()

        def advance(self, seconds: float) -> None:
            self.now += timedelta(seconds=seconds)

    stopped = Clock()
    monkeypatch.setattr(auth, "utcnow", lambda: stopped.now)
    return stopped
