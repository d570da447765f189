"""Accounts and tokens: register, login, logout, me (identity.services.user_register,
token_create, token_revoke)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.support import citizens

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-passphrase-42"


def register(api, username, password=PASSWORD, **extra):
    return api.post(
        "/api/v1/auth/register",
        {"username": username, "password": password, **extra},
        format="json",
    )


def login(api, username, password=PASSWORD, *, device_token=None):
    """A login from a client that has no device cookie (unless it gives a device token)."""
    api.cookies.clear()
    body = {"username": username, "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    return api.post("/api/v1/auth/login", body, format="json")


def test_it_registers_alice(api):
    response = register(api, "alice", email="alice@example.org")
    assert response.status_code == 201
    assert response.json() == {
        "id": response.json()["id"],
        "username": "alice",
        "email": "alice@example.org",
        "is_staff": False,
        "verification": {
            "status": "unverified",
            "full_name": None,
            "national_id_last4": None,
            "verified_at": None,
        },
    }


def test_it_refuses_a_taken_username(api):
    register(api, "alice")
    response = register(api, "alice")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "username" in response.json()["errors"]


@pytest.mark.parametrize("weak", ["short", "password123", "12345678901"])
def test_it_refuses_a_weak_password(api, weak):
    response = register(api, "alice", password=weak)
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_it_ignores_attempts_to_register_as_staff(api):
    response = register(api, "mallory", is_staff=True, is_superuser=True)
    assert response.status_code == 201
    assert not get_user_model().objects.get(username="mallory").is_staff


def test_it_logs_alice_in_with_an_expiring_token(api):
    register(api, "alice")
    response = login(api, "alice")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == "alice"
    assert len(body["token"]) == 64  # 256 random bits, hex
    expires = timezone.datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=23) < expires - timezone.now() <= timedelta(hours=24)


def test_it_stores_tokens_hashed(api):
    register(api, "alice")
    token = login(api, "alice").json()["token"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_key, digest FROM knox_authtoken")
        key, digest = cursor.fetchone()
    assert token.startswith(key) and token not in digest and len(digest) == 128


def test_it_refuses_a_wrong_password(api):
    register(api, "alice")
    response = login(api, "alice", password="not-her-password")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_it_throttles_login_attempts(api, settings):
    settings.LOGIN_ATTEMPTS_PER_USERNAME = 3
    register(api, "alice")
    codes = [login(api, "alice", password="guess").status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    response = login(api, "alice")  # even the right password waits out the window
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_it_walks_alice_from_sign_up_to_verified(api):
    alice = citizens.CITIZENS["alice"]
    assert register(api, "alice").status_code == 201
    token = login(api, "alice").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/auth/me").json()["verification"]["status"] == "unverified"
    response = api.post(
        "/api/v1/identity/verify",
        {"national_id": alice.national_id, "date_of_birth": alice.date_of_birth.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.json()
    me = api.get("/api/v1/auth/me").json()
    assert me["verification"]["status"] == "verified"
    assert me["verification"]["full_name"] == "Alice Tester"  # the registry's name
    assert me["verification"]["national_id_last4"] == alice.national_id[-4:]


def test_it_kills_the_token_at_logout(auth_api):
    alice = auth_api("alice")
    assert alice.get("/api/v1/auth/me").status_code == 200
    assert alice.post("/api/v1/auth/logout").status_code == 204
    response = alice.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert alice.post("/api/v1/auth/logout").status_code == 401


def test_it_refuses_an_expired_token(auth_api):
    alice = auth_api("alice")
    AuthToken.objects.filter(user=alice.user).update(expiry=timezone.now() - timedelta(seconds=1))
    assert alice.get("/api/v1/auth/me").status_code == 401


def test_it_refuses_a_tampered_token(auth_api):
    alice = auth_api("alice")
    token = alice._credentials["HTTP_AUTHORIZATION"].split()[1]
    for forged in (
        token[:-2] + "00" if not token.endswith("00") else token[:-2] + "11",
        token[:15] + "0" * 49,
        token + "ff",
        "x" * 64,
    ):
        tampered = APIClient()
        tampered.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        assert tampered.get("/api/v1/auth/me").status_code == 401, forged


def test_it_never_takes_a_token_from_the_url(auth_api, api):
    alice = auth_api("alice")
    token = alice._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert api.get(f"/api/v1/auth/me?token={token}").status_code == 401


def test_it_authenticates_with_one_query(auth_api, django_assert_num_queries):
    """The bearer lookup sits on the vote path: one indexed SELECT, no writes."""
    alice = auth_api("alice")
    with django_assert_num_queries(1):  # the token, with its user and verification
        assert alice.get("/api/v1/auth/me").status_code == 200


def test_it_lets_a_crowd_behind_one_address_log_in(api, make_user):
    """150 people behind one NAT address (a school, an office) all log in at once."""
    for i in range(150):
        make_user(f"pupil{i}")
    codes = [login(api, f"pupil{i}").status_code for i in range(150)]
    assert codes.count(200) == 150, codes
    assert codes.count(429) == 0


def test_it_limits_failed_logins_from_one_address_across_usernames(api, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 5
    codes = [login(api, f"nobody{i}", password="guess").status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    register(api, "alice")
    response = login(api, "alice")  # the address is guessing: even Alice waits
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


def test_it_forgets_alices_failures_once_she_logs_in(api, settings):
    settings.LOGIN_ATTEMPTS_PER_USERNAME = 3
    register(api, "alice")
    assert [login(api, "alice", password="typo").status_code for _ in range(2)] == [401, 401]
    assert login(api, "alice").status_code == 200
    assert [login(api, "alice", password="typo").status_code for _ in range(2)] == [401, 401]
    assert login(api, "alice").status_code == 200
    codes = [login(api, "alice", password="typo").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_it_counts_a_username_in_any_case(api, settings):
    settings.LOGIN_ATTEMPTS_PER_USERNAME = 2
    register(api, "alice")
    codes = [login(api, name, password="guess").status_code for name in ("alice", "ALICE")]
    assert codes == [401, 401]
    assert login(api, "Alice", password="guess").status_code == 429


@pytest.mark.parametrize(
    "body",
    [
        {"username": 0, "password": PASSWORD},
        {"username": "alice", "password": 12345678901234},
        {"username": ["alice"], "password": PASSWORD},
        {"username": "alice", "password": PASSWORD, "email": 7},
        {"username": "alice", "password": PASSWORD, "email": "a" * 250 + "@x.org"},
    ],
)
def test_it_refuses_values_that_are_not_strings(api, body):
    for path in ("/api/v1/auth/register", "/api/v1/auth/login"):
        if path.endswith("login"):
            body = {k: v for k, v in body.items() if k != "email"}
            if isinstance(body["username"], str) and isinstance(body["password"], str):
                continue
        response = api.post(path, body, format="json")
        assert response.status_code == 400, (path, response.content)
        assert response.json()["code"] == "validation_error"
    assert not get_user_model().objects.exists()


# --- Device tokens (identity/devices.py): known clients spared the address limit --------


def test_a_known_device_logs_in_from_an_address_a_guesser_locked(api, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 5
    register(api, "alice")
    device = login(api, "alice").json()["device_token"]
    codes = [login(api, f"nobody{i}", password="guess").status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    assert login(api, "alice").status_code == 429  # an unknown client: the address limit
    assert login(api, "alice", device_token=device).status_code == 200


def test_a_guesser_at_alices_name_does_not_lock_out_her_device(api, settings):
    settings.LOGIN_ATTEMPTS_PER_USERNAME = 3
    register(api, "alice")
    device = login(api, "alice").json()["device_token"]
    codes = [login(api, "alice", password="guess").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert login(api, "alice", device_token=device).status_code == 200


def test_a_device_is_limited_on_its_own(api, settings):
    settings.LOGIN_ATTEMPTS_PER_DEVICE = 3
    register(api, "alice")
    device = login(api, "alice").json()["device_token"]
    codes = [
        login(api, "alice", password="typo", device_token=device).status_code for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    assert login(api, "alice", device_token=device).status_code == 429
    assert login(api, "alice").status_code == 200  # the unknown-client count is its own


def test_a_device_token_is_the_accounts_own_and_unforgeable(api, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 2
    register(api, "alice")
    register(api, "bob")
    alices = login(api, "alice").json()["device_token"]
    for token in (alices, alices[:-2] + "xx", "garbage"):
        api.cookies.clear()
        body = {"username": "bob", "password": "guess", "device_token": token}
        api.post("/api/v1/auth/login", body, format="json")
    # Bob's failures counted against the address (not as a known device): it is locked.
    assert login(api, "bob", device_token=alices).status_code == 429


def test_browsers_keep_the_device_token_as_a_cookie_for_the_login_alone(api, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 2
    register(api, "alice")
    first = api.post(
        "/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    cookie = first.cookies["device"]
    assert cookie.value == first.json()["device_token"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/api/v1/auth/login"
    kept = dict(api.cookies)
    for i in range(3):
        login(api, f"nobody{i}", password="guess")
    api.cookies.update(kept)  # the browser sends its cookie back
    again = api.post(
        "/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert again.status_code == 200


def test_logging_out_everywhere_revokes_tokens_and_devices(api, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 2
    register(api, "alice")
    first = login(api, "alice").json()
    second = login(api, "alice").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {first['token']}")
    assert api.post("/api/v1/auth/logout-all").status_code == 204
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second}")
    assert api.get("/api/v1/auth/me").status_code == 401
    api.credentials()
    for i in range(3):
        login(api, f"nobody{i}", password="guess")
    assert login(api, "alice", device_token=first["device_token"]).status_code == 429
