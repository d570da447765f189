"""The live page without a browser (the browser tests are in test_live_page_browser.py)."""

import pytest

pytestmark = pytest.mark.django_db


def test_it_serves_the_live_page_with_no_external_assets(client, make_poll):
    poll = make_poll(title="Board election")
    response = client.get(f"/polls/{poll.pk}/live")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Board election" in html and "Ada" in html and "Grace" in html
    assert "http://" not in html and "https://" not in html
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_it_hides_drafts_and_unknown_polls_from_the_live_page(client, make_poll):
    draft = make_poll(publish=False)
    assert client.get(f"/polls/{draft.pk}/live").status_code == 404
    assert client.get("/polls/999999/live").status_code == 404
