"""Polls and options over the HTTP API: staff writes, visibility, locking."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from knox.models import AuthToken

from polls.models import Poll
from tests.support.votes import options_of

pytestmark = pytest.mark.django_db


def in_hours(hours):
    return (timezone.now() + timedelta(hours=hours)).isoformat()


def new_poll(**overrides):
    return {
        "title": "Board election",
        "closes_at": in_hours(24),
        "options": [{"label": "Ada"}, {"label": "Grace", "description": "COBOL"}],
        **overrides,
    }


@pytest.fixture
def sam(auth_api, staff):
    """Sam is staff: an API client for the user that make_poll creates polls as."""
    return auth_api(staff)


def test_it_lets_sam_create_a_poll(sam):
    response = sam.post("/api/v1/polls", new_poll(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "open"
    assert body["total_votes"] == 0
    assert body["results_visibility"] == "live"
    assert [(o["label"], o["description"]) for o in body["options"]] == [
        ("Ada", ""),
        ("Grace", "COBOL"),
    ]
    assert body["created_at"].endswith("Z")


def test_it_ignores_fields_that_are_not_input(sam, make_user):
    bob = make_user("bob")
    response = sam.post(
        "/api/v1/polls",
        new_poll(
            total_votes=1000,
            created_by=bob.pk,
            status="closed",
            id=999,
            created_at="2001-01-01T00:00Z",
        ),
        format="json",
    )
    assert response.status_code == 201
    poll = Poll.objects.get(pk=response.json()["id"])
    assert poll.created_by_id != bob.pk and poll.pk != 999
    assert response.json()["total_votes"] == 0 and response.json()["status"] == "open"
    patch = sam.patch(
        f"/api/v1/polls/{poll.pk}", {"status": "closed", "total_votes": 5}, format="json"
    )
    assert patch.json()["status"] == "open" and patch.json()["total_votes"] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"options": [{"label": "Ada"}]}, "options"),
        ({"options": [{"label": "Ada"}, {"label": "ada "}]}, "options"),
        ({"closes_at": in_hours(-1)}, "closes_at"),
        ({"opens_at": in_hours(5), "closes_at": in_hours(4)}, "closes_at"),
        ({"title": ""}, "title"),
        ({"results_visibility": "never"}, "results_visibility"),
        ({"closes_at": "next tuesday"}, "closes_at"),
        ({"description": "x" * 1_000_000}, "description"),
        ({"description": "x" * 5001}, "description"),
        ({"title": "x" * 201}, "title"),
        ({"options": [{"label": "Ada"}, {"label": "Grace", "description": "x" * 1001}]}, "options"),
        # Strict types: nothing is coerced into a string, a boolean or a choice.
        ({"title": 0}, "title"),
        ({"title": ["Board"]}, "title"),
        ({"description": 12}, "description"),
        ({"publish": 0}, "publish"),
        ({"publish": "false"}, "publish"),
        ({"results_visibility": 1}, "results_visibility"),
        ({"options": [{"label": 1}, {"label": 2}]}, "options"),
    ],
)
def test_it_refuses_a_bad_poll(sam, change, field):
    response = sam.post("/api/v1/polls", new_poll(**change), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["errors"]


def test_it_keeps_staff_writes_from_bob(auth_api, make_poll, api):
    poll = make_poll()
    bob = auth_api("bob")
    writes = [
        ("post", "/api/v1/polls", new_poll()),
        ("patch", f"/api/v1/polls/{poll.pk}", {"title": "Mine now"}),
        ("delete", f"/api/v1/polls/{poll.pk}", None),
        ("post", f"/api/v1/polls/{poll.pk}/options", {"label": "Bob"}),
        ("post", f"/api/v1/polls/{poll.pk}/publish", None),
        ("post", f"/api/v1/polls/{poll.pk}/close", None),
    ]
    for method, url, body in writes:
        response = getattr(bob, method)(url, body, format="json")
        assert response.status_code == 403, (method, url)
        assert response.json()["code"] == "permission_denied"
        assert getattr(api, method)(url, body, format="json").status_code == 401, (method, url)
    assert Poll.objects.get(pk=poll.pk).title == "Board election"


def test_it_hides_drafts_from_bob_but_not_from_sam(auth_api, make_poll, sam):
    draft = make_poll(publish=False, title="Secret plans")
    bob = auth_api("bob")
    assert bob.get(f"/api/v1/polls/{draft.pk}").status_code == 404
    assert (
        bob.post(f"/api/v1/polls/{draft.pk}/options", {"label": "x"}, format="json").status_code
        == 403
    )
    assert [p["title"] for p in bob.get("/api/v1/polls").json()["results"]] == []
    assert sam.get(f"/api/v1/polls/{draft.pk}").json()["status"] == "draft"
    assert [p["title"] for p in sam.get("/api/v1/polls?status=draft").json()["results"]] == [
        "Secret plans"
    ]


def test_it_filters_and_paginates_polls(api, make_poll):
    for i in range(3):
        make_poll(title=f"open {i}")
    make_poll(title="soon", opens_in=timedelta(hours=1))
    page = api.get("/api/v1/polls?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert [p["title"] for p in api.get("/api/v1/polls?status=scheduled").json()["results"]] == [
        "soon"
    ]
    assert api.get("/api/v1/polls?status=open").json()["count"] == 3
    assert api.get("/api/v1/polls?status=bogus").status_code == 400
    assert api.get("/api/v1/polls?page=99").status_code == 404


def test_it_answers_404_for_unknown_polls(api):
    assert api.get("/api/v1/polls/123456").status_code == 404
    assert api.get("/api/v1/polls/99999999999999999999999").status_code == 404
    assert api.get("/api/v1/polls/abc").status_code == 404


def test_it_lets_sam_add_options_and_patch_until_votes_arrive(sam, make_poll, make_voter):
    poll = make_poll()
    response = sam.post(f"/api/v1/polls/{poll.pk}/options", {"label": "Hedy"}, format="json")
    assert response.status_code == 201 and response.json()["label"] == "Hedy"
    dup = sam.post(f"/api/v1/polls/{poll.pk}/options", {"label": "Hedy"}, format="json")
    assert dup.status_code == 400 and "label" in dup.json()["errors"]
    assert (
        sam.patch(f"/api/v1/polls/{poll.pk}", {"title": "Board 2027"}, format="json").json()[
            "title"
        ]
        == "Board 2027"
    )
    make_voter("alice").post(
        f"/api/v1/polls/{poll.pk}/votes", {"option_id": options_of(poll)["Ada"]}, format="json"
    )
    for response in (
        sam.post(f"/api/v1/polls/{poll.pk}/options", {"label": "Late"}, format="json"),
        sam.patch(f"/api/v1/polls/{poll.pk}", {"title": "Rigged"}, format="json"),
        sam.delete(f"/api/v1/polls/{poll.pk}"),
    ):
        assert response.status_code == 409
        assert response.json()["code"] == "poll_locked"
    assert sam.get(f"/api/v1/polls/{poll.pk}").json()["total_votes"] == 1


def test_it_deletes_a_poll_without_votes(sam, make_poll):
    poll = make_poll()
    assert sam.delete(f"/api/v1/polls/{poll.pk}").status_code == 204
    assert sam.get(f"/api/v1/polls/{poll.pk}").status_code == 404


def test_it_publishes_and_closes(sam, make_poll):
    draft = make_poll(publish=False)
    assert sam.post(f"/api/v1/polls/{draft.pk}/close").json()["code"] == "poll_not_published"
    assert sam.post(f"/api/v1/polls/{draft.pk}/publish").json()["status"] == "open"
    assert sam.post(f"/api/v1/polls/{draft.pk}/publish").status_code == 409
    assert sam.post(f"/api/v1/polls/{draft.pk}/close").json()["status"] == "closed"
    again = sam.post(f"/api/v1/polls/{draft.pk}/close")
    assert again.status_code == 409 and again.json()["code"] == "poll_already_closed"
    patch = sam.patch(f"/api/v1/polls/{draft.pk}", {"title": "x"}, format="json")
    assert patch.json()["code"] == "poll_locked"


def test_it_accepts_the_longest_descriptions(sam):
    long_option = {"label": "Grace", "description": "g" * 1000}
    response = sam.post(
        "/api/v1/polls",
        new_poll(description="d" * 5000, options=[{"label": "Ada"}, long_option]),
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert len(response.json()["description"]) == 5000


def test_it_refuses_a_long_description_in_a_patch_and_a_new_option(sam, make_poll):
    poll = make_poll()
    response = sam.patch(f"/api/v1/polls/{poll.pk}", {"description": "x" * 5001}, format="json")
    assert response.status_code == 400
    assert "description" in response.json()["errors"]
    response = sam.post(
        f"/api/v1/polls/{poll.pk}/options",
        {"label": "Linus", "description": "x" * 1001},
        format="json",
    )
    assert response.status_code == 400
    assert "description" in response.json()["errors"]
    assert Poll.objects.get(pk=poll.pk).description == ""


def test_it_refuses_an_option_id_that_is_not_a_json_integer(make_poll, make_voter):
    poll = make_poll()
    option_id = options_of(poll)["Ada"]
    alice = make_voter("alice")
    for bad in (str(option_id), True, float(option_id)):
        response = alice.post(f"/api/v1/polls/{poll.pk}/votes", {"option_id": bad}, format="json")
        assert response.status_code == 400, bad
        assert response.json()["code"] == "validation_error"


@pytest.mark.django_db(transaction=True)
def test_options_added_at_once_each_get_their_own_position(web_server, staff, make_poll):
    """Real concurrency through the production web tier: 8 staff requests at once."""
    poll = make_poll()
    _, token = AuthToken.objects.create(staff)

    def add(n):
        return httpx.post(
            f"{web_server.url}/api/v1/polls/{poll.pk}/options",
            json={"label": f"Candidate {n}"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(add, range(8)))
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    positions = list(poll.options.values_list("position", flat=True))
    assert len(positions) == len(set(positions)) == 10
