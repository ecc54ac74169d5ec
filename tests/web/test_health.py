def test_healthz_reports_database(client):
    body = client.get("/healthz").get_json()
    assert body["checks"]["database"] == "ok"


def test_healthz_checks_real_redis(app, client, redis_url, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "REDIS_URL", redis_url)
    assert client.get("/healthz").get_json()["checks"]["redis"] == "ok"


def test_healthz_reports_redis_down(app, client, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "REDIS_URL", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"].startswith("unreachable")
