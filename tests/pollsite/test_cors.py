"""CORS: no origin is allowed unless CORS_ALLOWED_ORIGINS names it."""


def preflight(client):
    return client.options(
        "/api/v1/polls",
        HTTP_ORIGIN="https://app.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )


def test_it_allows_no_origin_by_default(client):
    assert "Access-Control-Allow-Origin" not in preflight(client)


def test_it_allows_a_configured_origin(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.org"]
    response = preflight(client)
    assert response["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "authorization" in response["Access-Control-Allow-Headers"]
