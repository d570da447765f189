"""A guesser behind one address (a school's NAT, say: the front tells the app the client
address itself) while people log in from the same address through the live web tier. The
guesser locks the address for unknown clients; a user whose client logged in before
(a device token, identity/devices.py) still logs in, and a guess at that user's name
does not lock them out of their own device."""

import random

import httpx
import pytest
from django.conf import settings

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
PASSWORD = "a-long-passphrase-42"


def test_a_guesser_behind_one_address_locks_out_only_unknown_clients(web_server, figure):
    school = f"127.0.{random.randint(100, 250)}.{random.randint(1, 250)}"
    suffix = random.randint(0, 10**6)  # the rate limiter's Redis outlives the test
    alice_name, bob_name = f"alice{suffix}", f"bob{suffix}"
    for name in (alice_name, bob_name):
        registered = httpx.post(
            f"{web_server.url}/api/v1/auth/register",
            json={"username": name, "password": PASSWORD},
            timeout=30,
        )
        assert registered.status_code == 201, registered.text
    transport = httpx.HTTPTransport(local_address=school)
    with httpx.Client(base_url=web_server.url, transport=transport, timeout=30) as client:

        def login(username, password=PASSWORD, device_token=None):
            body = {"username": username, "password": password}
            if device_token:
                body["device_token"] = device_token
            client.cookies.clear()  # each call is its own client
            return client.post("/api/v1/auth/login", json=body)

        first = login(alice_name)  # Alice logged in before
        assert first.status_code == 200, first.text
        alices_device = first.json()["device_token"]
        guesses = [
            login(f"pupil{i % 40}", password="guess").status_code
            for i in range(settings.LOGIN_ATTEMPTS_PER_IP + 20)
        ]
        at_alice = [login(alice_name, password="guess").status_code for _ in range(12)]
        alice = login(alice_name, device_token=alices_device)
        bob = login(bob_name)  # never logged in from here: an unknown client
    figure(
        "login_guesser_behind_one_address",
        guesses=len(guesses),
        guess_answers={code: guesses.count(code) for code in sorted(set(guesses))},
        guesses_at_alice={code: at_alice.count(code) for code in sorted(set(at_alice))},
        known_device=alice.status_code,
        unknown_client=bob.status_code,
    )
    assert guesses.count(401) == settings.LOGIN_ATTEMPTS_PER_IP
    assert guesses.count(429) == 20
    assert set(at_alice) == {429}  # the address is locked for unknown clients
    assert alice.status_code == 200, alice.json()
    assert bob.status_code == 429 and bob.json()["code"] == "throttled"
    assert bob.headers["Retry-After"]
