"""The live results page and the API docs, in a real browser (Debian's chromium).

The results stream is an async view, so these tests talk to the production web tier
(web_server: nginx, granian and uvicorn) on the test database, not to pytest-django's
WSGI live_server. Rows must be committed to be seen by those processes: hence
transaction=True.
"""

import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.votes import options_of

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

CHROMIUM = "/usr/bin/chromium"
if sync_playwright is None or not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        "browser tests need Debian's chromium: apt-get install chromium",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Nothing here may reach the network: no updates, no sync, no field trials.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def open_page():
    """open_page(url) is a fresh page at url, with what it requested and logged.

    Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls
    while one runs: the browser starts at the first open_page(), after the test made its
    rows, and is gone before pytest-django flushes the database.
    """
    with contextlib.ExitStack() as stack:
        browser = None

        def open_(url):
            nonlocal browser
            if browser is None:
                playwright = stack.enter_context(sync_playwright())
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                stack.callback(browser.close)
            context = browser.new_context(
                locale="en-US", viewport={"width": 1100, "height": 760}, reduced_motion="reduce"
            )
            stack.callback(context.close)
            page = context.new_page()
            page.requested, page.errors = [], []
            page.on("request", lambda request: page.requested.append(request.url))
            page.on("pageerror", lambda error: page.errors.append(str(error)))
            page.on(
                "console",
                lambda message: message.type == "error" and page.errors.append(message.text),
            )
            page.response = page.goto(url)
            return page

        yield open_


def left_the_machine(urls):
    """The URLs that went anywhere but 127.0.0.1 (data: and blob: stay in the page)."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme in ("http", "https", "ws", "wss")
        and urlsplit(url).hostname != "127.0.0.1"
    ]


def screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0
    return path


BARS_SHOW = """([ada, grace]) => {
    const votes = (id) => document.querySelector(`.bar[data-option-id="${id}"]`).dataset.votes;
    return votes(ada) === "2" && votes(grace) === "1"
        && document.getElementById("total-votes").textContent.trim() === "3";
}"""


def test_it_shows_alices_bobs_and_carols_votes_as_they_arrive(
    web_server, open_page, make_poll, make_voter
):
    poll = make_poll(title="Board election", labels=("Ada Lovelace", "Grace Hopper"))
    ada, grace = options_of(poll)["Ada Lovelace"], options_of(poll)["Grace Hopper"]
    voters = [make_voter(name) for name in ("alice", "bob", "carol")]

    page = open_page(f"{web_server.url}/polls/{poll.pk}/live")
    assert page.response.status == 200
    assert "default-src 'self'" in page.response.headers["content-security-policy"]
    assert page.locator("h1").inner_text() == "Board election"
    # The first results event fills the page.
    page.wait_for_function(
        "() => document.getElementById('total-votes').textContent.trim() === '0'", timeout=10_000
    )
    assert page.locator("#connection").get_attribute("data-state") == "live"

    with httpx.Client(base_url=web_server.url, timeout=10) as http:
        for voter, option_id in zip(voters, (ada, ada, grace), strict=True):
            response = http.post(
                f"/api/v1/polls/{poll.pk}/votes",
                json={"option_id": option_id},
                headers={"Authorization": f"Bearer {voter.token}"},
            )
            assert response.status_code == 201, response.text

    page.wait_for_function(BARS_SHOW, arg=[ada, grace], timeout=10_000)
    assert page.locator(f"#option-{ada}").inner_text().split() == [
        "Ada", "Lovelace", "2", "votes", "·", "66.7%"
    ]  # fmt: skip
    assert page.locator(f"#option-{grace} .option-figures").inner_text() == "1 vote · 33.3%"
    assert page.locator("[aria-live=polite] #total-votes").count() == 1
    assert page.locator("#last-update").get_attribute("datetime")
    screenshot(page, "live_page.png")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "live_page_phone.png")

    assert left_the_machine(page.requested) == []
    assert page.errors == []


def test_a_ranked_poll_shows_first_choices_and_its_runoff_as_ballots_arrive(
    web_server, open_page, make_poll, make_voter
):
    poll = make_poll(title="Chair", labels=("Ada", "Grace", "Hedy"), ballot_kind="ranked")
    ada, grace, hedy = (options_of(poll)[label] for label in ("Ada", "Grace", "Hedy"))
    rankings = [[ada], [ada, grace], [grace], [grace, ada], [hedy, grace]]
    voters = [make_voter(f"voter{i}") for i in range(len(rankings))]

    page = open_page(f"{web_server.url}/polls/{poll.pk}/live")
    page.wait_for_function(
        "() => document.getElementById('runoff-summary').textContent === 'No ballots yet.'",
        timeout=10_000,
    )
    assert "first choices" in page.locator("#kind-note").inner_text()
    with httpx.Client(base_url=web_server.url, timeout=10) as http:
        for voter, ranking in zip(voters, rankings, strict=True):
            response = http.post(
                f"/api/v1/polls/{poll.pk}/votes",
                json={"ranking": ranking},
                headers={"Authorization": f"Bearer {voter.token}"},
            )
            assert response.status_code == 201, response.text

    page.wait_for_function(
        "() => document.getElementById('total-votes').textContent.trim() === '5'",
        timeout=10_000,
    )
    assert page.locator("#runoff-summary").inner_text() == (
        "Grace wins in round 2, with 3 of 5 ballots still counting."
    )
    assert page.locator("#runoff-rounds li").all_inner_texts() == [
        "Round 1: Ada 2 · Grace 2 · Hedy 1; Hedy out",
        "Round 2: Ada 2 · Grace 3",
    ]
    assert page.locator(f"#option-{ada} .option-figures").inner_text() == "2 first choices · 40%"
    assert page.locator("#total-noun").inner_text() == "ballots"
    screenshot(page, "live_page_ranked.png")
    assert page.errors == []


def test_it_says_results_are_hidden_until_the_poll_closes(web_server, open_page, make_poll):
    poll = make_poll(results_visibility="after_close")

    page = open_page(f"{web_server.url}/polls/{poll.pk}/live")

    assert page.response.status == 200
    notice = page.locator("#hidden-notice")
    notice.wait_for(state="visible", timeout=10_000)
    assert notice.inner_text() == "Results are hidden until the poll closes."
    assert page.locator(".option-label").all_inner_texts() == ["Ada", "Grace"]
    screenshot(page, "live_page_hidden.png")


def test_it_serves_the_api_docs_without_the_internet(web_server, open_page):
    page = open_page(f"{web_server.url}/api/docs")

    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock").count() > 5
    assert page.locator('.opblock-summary-path[data-path="/api/v1/polls"]').first.is_visible()
    screenshot(page, "api_docs.png")
    assert left_the_machine(page.requested) == []
