def test_login_page_renders_in_chinese(client):
    page = client.get("/auth/login")
    assert page.status_code == 200
