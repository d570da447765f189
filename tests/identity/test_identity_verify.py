"""National ID verification through the HTTP API, against the registry simulator on
loopback (identity.services.identity_verify)."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings
from knox.models import AuthToken

from identity.models import VoterIdentity
from tests.support import citizens, registry_sim

pytestmark = pytest.mark.django_db
ALICE = citizens.CITIZENS["alice"]


def verify(client, citizen=ALICE, *, national_id=None, dob=None):
    return client.post(
        "/api/v1/identity/verify",
        {
            "national_id": national_id or citizen.national_id,
            "date_of_birth": (dob or citizen.date_of_birth).isoformat(),
        },
        format="json",
    )


def assert_code(response, status, code):
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code


def test_it_verifies_alice_with_the_registrys_name(auth_api):
    response = auth_api("alice").post(
        "/api/v1/identity/verify",
        {
            "national_id": ALICE.national_id,
            "date_of_birth": ALICE.date_of_birth.isoformat(),
            "full_name": "Someone Else",
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "verified"
    assert body["full_name"] == "Alice Tester"
    assert body["national_id_last4"] == ALICE.national_id[-4:]


def test_it_accepts_spaces_and_dashes(auth_api):
    n = ALICE.national_id
    assert verify(auth_api("alice"), national_id=f" {n[:6]}-{n[6:10]} {n[10:]} ").status_code == 200


def test_it_refuses_a_bad_number_without_calling_the_registry(auth_api):
    before = registry_sim.lookups()
    bad_check_digit = ALICE.national_id[:-1] + str((int(ALICE.national_id[-1]) + 1) % 10)
    for number in (bad_check_digit, "12345", "80010150090ab", ALICE.national_id + "1"):
        assert_code(
            verify(auth_api(f"u{len(number)}{number[-1]}"), national_id=number),
            400,
            "invalid_national_id",
        )
    assert registry_sim.lookups() == before


def test_it_refuses_a_birth_date_that_contradicts_the_number_without_asking(auth_api):
    before = registry_sim.lookups()
    response = verify(auth_api("alice"), dob=ALICE.date_of_birth.replace(day=2))
    assert_code(response, 422, "verification_failed")
    assert registry_sim.lookups() == before


@pytest.mark.parametrize("field", ["national_id", "date_of_birth"])
def test_it_requires_both_fields(auth_api, field):
    body = {"national_id": ALICE.national_id, "date_of_birth": "1980-01-01"}
    del body[field]
    response = auth_api("alice").post("/api/v1/identity/verify", body, format="json")
    assert_code(response, 400, "validation_error")
    assert field in response.json()["errors"]


def test_it_gives_one_identical_body_for_every_mismatch(auth_api):
    """Unknown number, wrong date of birth (same century digits), deceased, under age."""
    unknown = citizens.unregistered()
    bob = citizens.CITIZENS["bob"]
    wrong_century = bob.date_of_birth.replace(year=bob.date_of_birth.year - 100)
    cases = [
        verify(auth_api("u1"), unknown),
        verify(auth_api("u2"), bob, dob=wrong_century),
        verify(auth_api("u3"), citizens.CITIZENS["deceased"]),
        verify(auth_api("u4"), citizens.CITIZENS["minor"]),
    ]
    assert {r.status_code for r in cases} == {422}
    assert len({r.content for r in cases}) == 1
    assert cases[0].json()["code"] == "verification_failed"
    assert not VoterIdentity.objects.exists()


def test_it_verifies_someone_who_turned_18_this_year(auth_api):
    assert verify(auth_api("adam"), citizens.CITIZENS["just_adult"]).status_code == 200


def test_it_is_idempotent_for_the_same_number(auth_api):
    alice = auth_api("alice")
    first = verify(alice).json()
    second = verify(alice)
    assert second.status_code == 200
    assert second.json() == first


def test_it_refuses_a_second_number_for_a_verified_account(auth_api):
    alice = auth_api("alice")
    verify(alice)
    assert_code(verify(alice, citizens.CITIZENS["bob"]), 409, "account_already_verified")


def test_it_refuses_alices_number_on_mallorys_account(auth_api):
    verify(auth_api("alice"))
    assert_code(verify(auth_api("mallory")), 409, "national_id_in_use")


def test_it_does_not_reveal_that_a_number_is_taken_to_a_wrong_birth_date(auth_api):
    verify(auth_api("alice"))
    bob = citizens.CITIZENS["bob"]
    wrong = ALICE.date_of_birth.replace(year=ALICE.date_of_birth.year - 100)
    assert_code(
        verify(auth_api("mallory"), bob, national_id=ALICE.national_id, dob=wrong),
        422,
        "verification_failed",
    )


def test_it_limits_attempts_per_account(auth_api, settings):
    settings.VERIFY_ATTEMPTS_PER_ACCOUNT = 3
    mallory = auth_api("mallory")
    for _ in range(3):
        assert verify(mallory, citizens.unregistered()).status_code == 422
    response = verify(mallory)
    assert_code(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_it_limits_attempts_per_number_across_accounts(auth_api, settings):
    settings.VERIFY_ATTEMPTS_PER_NATIONAL_ID = 2
    wrong = ALICE.date_of_birth.replace(year=ALICE.date_of_birth.year - 100)
    for name in ("m1", "m2"):
        assert verify(auth_api(name), dob=wrong).status_code == 422
    assert_code(verify(auth_api("alice")), 429, "throttled")


def test_it_fails_closed_when_the_attempt_counter_is_down(auth_api, settings):
    from devstack.processes import free_port
    from pollsite.defaults import embedded_redis_url

    settings.REDIS_URL = embedded_redis_url(free_port())
    response = verify(auth_api("alice"))
    assert_code(response, 503, "rate_limiter_unavailable")
    assert not VoterIdentity.objects.exists()


# --- A registry that misbehaves ---------------------------------------------------------


@pytest.mark.parametrize(
    "mode", ["error", "garbage", "missing_fields", "redirect", "bad_signature"]
)
def test_it_answers_503_and_stores_nothing_when_the_registry_misbehaves(
    auth_api, registry_faults, mode
):
    registry_faults.set_faults(mode=mode)
    alice = auth_api("alice")
    response = verify(alice)
    assert_code(response, 503, "registry_unavailable")
    assert int(response["Retry-After"]) >= 1
    assert not VoterIdentity.objects.exists()
    assert alice.get("/api/v1/auth/me").json()["verification"]["status"] == "unverified"


def test_it_gives_up_on_a_hanging_registry_within_the_timeout(auth_api, registry_faults, settings):
    settings.REGISTRY_READ_TIMEOUT = settings.REGISTRY_DEADLINE = 1.0
    registry_faults.set_faults(mode="timeout", hang_seconds=30)
    alice = auth_api("alice")
    started = time.monotonic()
    response = verify(alice)
    elapsed = time.monotonic() - started
    assert_code(response, 503, "registry_unavailable")
    assert elapsed < settings.REGISTRY_READ_TIMEOUT + 0.5
    assert not VoterIdentity.objects.exists()


def test_it_opens_the_breaker_then_closes_it_when_the_registry_recovers(
    auth_api, registry_faults, settings
):
    settings.REGISTRY_BREAKER_FAIL_MAX = 2
    settings.REGISTRY_BREAKER_RESET_SECONDS = 1
    settings.REGISTRY_RETRIES = 0
    from identity import registry

    registry.reset_breaker()
    registry_faults.set_faults(mode="error")
    for name in ("u1", "u2"):
        assert_code(verify(auth_api(name)), 503, "registry_unavailable")
    calls = registry_sim.lookups()
    response = verify(auth_api("u3"))
    assert_code(response, 503, "registry_unavailable")
    assert registry_sim.lookups() == calls  # the open breaker refused without a call
    registry_faults.set_faults()
    time.sleep(1.1)
    assert verify(auth_api("alice")).status_code == 200


# --- Real concurrency, against a live server ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_lets_exactly_one_of_two_racing_accounts_bind_a_number(live_server, make_user, settings):
    settings.VERIFY_ATTEMPTS_PER_NATIONAL_ID = 100
    tokens = [AuthToken.objects.create(make_user(name))[1] for name in ("alice", "mallory")]
    body = {"national_id": ALICE.national_id, "date_of_birth": ALICE.date_of_birth.isoformat()}

    def attempt(token):
        return httpx.post(
            f"{live_server.url}/api/v1/identity/verify",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    for _ in range(3):  # a few rounds, each with fresh accounts' state
        VoterIdentity.objects.all().delete()
        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(attempt, tokens))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 409], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["code"] == "national_id_in_use"
        assert VoterIdentity.objects.count() == 1


# --- Privacy ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_canary_number_nowhere_but_its_last_four_digits(
    live_server, make_user, caplog
):
    import logging

    import redis
    from django.db import connection

    caplog.set_level(logging.DEBUG)
    canary = citizens.CITIZENS["canary"]
    token = AuthToken.objects.create(make_user("canary"))[1]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"national_id": canary.national_id, "date_of_birth": canary.date_of_birth.isoformat()}
    responses = [
        httpx.post(f"{live_server.url}/api/v1/identity/verify", json=body, headers=headers),
        httpx.post(f"{live_server.url}/api/v1/identity/verify", json=body, headers=headers),
        httpx.get(f"{live_server.url}/api/v1/auth/me", headers=headers),
    ]
    assert responses[0].status_code == 200
    secret = canary.national_id
    # Responses
    for r in responses:
        assert secret not in r.text and secret not in str(r.headers)
    assert responses[2].json()["verification"]["national_id_last4"] == secret[-4:]
    # Logs
    assert secret not in caplog.text
    # Every row of every table
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608 - catalog names
            dump = "\n".join(row[0] for row in cursor.fetchall())
            assert secret not in dump, table
            assert secret.encode().hex() not in dump, table
    # Redis keys and values
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter():
        assert secret.encode() not in key
        if client.type(key) == b"string":
            assert secret.encode() not in (client.get(key) or b"")
