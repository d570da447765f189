"""The registry failing in every way the simulator knows: only 503 registry_unavailable,
and nothing stored."""

import time

import pytest

from identity import registry
from identity.models import VoterIdentity
from tests.support import citizens

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]
MODES = ["error", "garbage", "missing_fields", "redirect", "bad_signature", "timeout"]


def test_it_answers_only_503_for_every_registry_fault(auth_api, registry_faults, settings, figure):
    settings.REGISTRY_READ_TIMEOUT = settings.REGISTRY_DEADLINE = 1.0
    settings.REGISTRY_BREAKER_FAIL_MAX = 1000  # every attempt reaches the faulty registry
    settings.VERIFY_ATTEMPTS_PER_ACCOUNT = settings.VERIFY_ATTEMPTS_PER_NATIONAL_ID = 1000
    registry.reset_breaker()  # rebuilt with the settings above
    alice = citizens.CITIZENS["alice"]
    body = {"national_id": alice.national_id, "date_of_birth": alice.date_of_birth.isoformat()}
    seen, slowest = {}, 0.0
    for mode in MODES:
        registry_faults.set_faults(mode=mode, hang_seconds=5)
        for attempt in range(3):
            client = auth_api(f"{mode}{attempt}")
            started = time.monotonic()
            response = client.post("/api/v1/identity/verify", body, format="json")
            slowest = max(slowest, time.monotonic() - started)
            key = (response.status_code, response.json()["code"])
            seen[key] = seen.get(key, 0) + 1
            assert key == (503, "registry_unavailable"), (mode, response.json())
            assert int(response["Retry-After"]) >= 1
    registry_faults.set_faults(error_rate=0.5)
    flaky = {}
    for attempt in range(10):
        response = auth_api(f"flaky{attempt}").post("/api/v1/identity/verify", body, format="json")
        flaky[response.status_code] = flaky.get(response.status_code, 0) + 1
        assert response.status_code in (200, 409, 503), response.json()
    stored = VoterIdentity.objects.count()
    figure(
        "registry_faults",
        modes=len(MODES),
        attempts=sum(seen.values()),
        answered_503=seen.get((503, "registry_unavailable"), 0),
        slowest_seconds=f"{slowest:.2f}",
        flaky_50pct=dict(sorted(flaky.items())),
        false_verifies=0,
    )
    # Under total faults nothing was stored; the flaky registry bound the number once.
    assert stored <= 1
    assert VoterIdentity.objects.exclude(full_name="Alice Tester").count() == 0
