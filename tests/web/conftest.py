"""Fixtures of the web tests."""

import pytest


@pytest.fixture
def admin_client(client, make_user, region):
    make_user("admin1", roles=(("admin", region["city"]),))
    client.login("admin1")
    client.post_form("/auth/language", {"locale": "en"})
    return client
