"""The front door: every link `make run` prints answers 200."""

import httpx
import pytest

from devstack.run import printed_links


@pytest.mark.django_db(transaction=True)
def test_every_link_make_run_prints_answers_200(web_server):
    links = printed_links(web_server.url)
    assert {name for name, _ in links} >= {"API", "Docs", "Admin", "Health"}
    for name, url in links:
        answer = httpx.get(url, timeout=10)  # no redirect followed: the link itself answers
        assert answer.status_code == 200, f"{name} {url}: {answer.status_code}"
