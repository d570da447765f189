"""The OpenAPI schema and Swagger UI, with every asset served by the app itself."""

import re

import pytest


def test_it_serves_an_openapi_3_schema(client):
    response = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")


@pytest.mark.django_db
def test_it_serves_swagger_ui_with_local_assets_only(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    for url in assets:
        assert url.startswith("/static/"), f"{url} is not served by the app"
        asset = client.get(url)
        assert asset.status_code == 200, url
        b"".join(asset.streaming_content) if asset.streaming else asset.content
    assert "http://" not in html and "https://" not in html


def test_it_generates_a_valid_schema_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
