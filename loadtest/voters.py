"""The scenario's accounts: a staff token to create polls, and verified voters.

Voters are made through the real API (register, login, verify) with numbers of the
registry simulator's own population, so the whole verification path runs; or, for a
deployment with a real registry, read from LOADTEST_TOKENS_FILE. Accounts are named
loadtest-NNNN after the citizen's place in the population (never after the number, which
is never printed or stored) and their tokens are kept in var/loadtest/voters.json, so a
second run reuses them: a national ID verifies one account only, and logins are limited
per client address (LOGIN_ATTEMPTS_PER_IP).
"""

import json
import os
import secrets
import subprocess
import sys
from datetime import date
from urllib.parse import urlsplit

import requests

from loadtest import settings as lt

API = "/api/v1"
TIMEOUT = 30


class SetupError(SystemExit):
    """The scenario cannot start; the message says what to set or fix."""


def _post(session, url, body, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return session.post(url, json=body, headers=headers, timeout=TIMEOUT)


# --- staff --------------------------------------------------------------------------------


def admin_token(base):
    """A staff token: LOADTEST_ADMIN_USERNAME/PASSWORD (or ADMIN_USERNAME/PASSWORD), else,
    for a service on this machine, a `loadtest-admin` made with `manage.py ensure_admin`."""
    username, password = lt.ADMIN_USERNAME, lt.ADMIN_PASSWORD
    if not (username and password):
        if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SetupError(
                "Set LOADTEST_ADMIN_USERNAME and LOADTEST_ADMIN_PASSWORD (a staff account of "
                f"{base}): the scenario creates its own polls."
            )
        username, password = _ensure_local_admin()
    response = _post(requests.Session(), f"{base}{API}/auth/login", {
        "username": username, "password": password,
    })  # fmt: skip
    if response.status_code != 200:
        raise SetupError(f"staff login as {username!r} failed: {response.status_code}")
    return response.json()["token"]


def _ensure_local_admin():
    """The `make run` database's `loadtest-admin`, its password generated once in
    var/secrets/ (as the service's own dev secrets are)."""
    path = lt.VAR_DIR / "secrets" / "loadtest_admin_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    username, password = "loadtest-admin", path.read_text().strip()
    env = {**os.environ, "ADMIN_USERNAME": username, "ADMIN_PASSWORD": password}
    env.setdefault("DATABASE_URL", lt.DATABASE_URL or local_database_url())
    done = subprocess.run(
        [sys.executable, str(lt.BASE_DIR / "manage.py"), "ensure_admin"],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SetupError(
            "could not make the local staff account (is `make run` up, on this VAR_DIR?); "
            "or set LOADTEST_ADMIN_USERNAME/PASSWORD\n" + done.stderr[-2000:]
        )
    return username, password


def local_database_url():
    from pollsite.defaults import embedded_database_url

    return os.environ.get("DATABASE_URL") or embedded_database_url()


# --- voters -------------------------------------------------------------------------------


def voter_tokens(base, count, *, say=print):
    """`count` bearer tokens of verified voters (fewer if the tokens file holds fewer)."""
    if lt.TOKENS_FILE:
        with open(lt.TOKENS_FILE) as f:
            tokens = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        if not tokens:
            raise SetupError(f"{lt.TOKENS_FILE} holds no token")
        return tokens[:count]
    return _simulator_voters(base, count, say)


def simulator_citizens():
    """Alive adults of the registry simulator's population, in its own (stable) order:
    REGISTRY_SIM_DATA when set, else its deterministic demo population."""
    from identity.national_id import get_scheme
    from identity.registry_protocol import ALIVE
    from registry_simulator import config
    from registry_simulator.population import age_on, load_population

    scheme = get_scheme(config.national_id_scheme())
    citizens = load_population(scheme, config.citizens_file())
    voting_age = config.voting_age()
    today = date.today()
    return [
        c
        for c in citizens.values()
        if c.status == ALIVE and age_on(c.date_of_birth, today) >= voting_age
    ]


def _simulator_voters(base, count, say):
    cache_path = lt.OUT_DIR / "voters.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    session = requests.Session()
    tokens = []
    made = 0
    for index, citizen in enumerate(simulator_citizens()):
        if len(tokens) == count:
            break
        username = f"loadtest-{index:04d}"
        token = cache.get(username)
        if token and _is_verified(session, base, token):
            tokens.append(token)
            continue
        token = _sign_in(session, base, username)
        outcome = _verify(session, base, token, citizen)
        if outcome != "verified":
            say(f"  {username}: {outcome}; trying the next citizen")
            continue
        cache[username] = token
        tokens.append(token)
        made += 1
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache_path.write_text(json.dumps(cache, indent=1))
    cache_path.chmod(0o600)
    say(f"  {len(tokens)} verified voters ({made} verified now, {len(tokens) - made} reused)")
    if len(tokens) < count:
        raise SetupError(f"only {len(tokens)} of {count} voters could be verified")
    return tokens


def _is_verified(session, base, token):
    response = session.get(
        f"{base}{API}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    return response.status_code == 200 and response.json()["verification"]["status"] == "verified"


def _sign_in(session, base, username):
    credentials = {"username": username, "password": lt.VOTER_PASSWORD}
    registered = _post(session, f"{base}{API}/auth/register", credentials)
    if registered.status_code not in (201, 400):  # 400: taken, by an earlier run
        raise SetupError(f"register {username}: {registered.status_code} {registered.text}")
    response = _post(session, f"{base}{API}/auth/login", credentials)
    if response.status_code == 429:
        raise SetupError(
            "login throttled: the service allows LOGIN_ATTEMPTS_PER_IP logins per "
            "LOGIN_WINDOW_SECONDS from one address; wait, or raise it for the load test"
        )
    if response.status_code != 200:
        raise SetupError(f"login {username}: {response.status_code} {response.text}")
    return response.json()["token"]


def _verify(session, base, token, citizen):
    body = {"national_id": citizen.national_id, "date_of_birth": citizen.date_of_birth.isoformat()}
    response = _post(session, f"{base}{API}/identity/verify", body, token)
    if response.status_code == 200:
        return "verified"
    code = response.json().get("code", response.status_code)
    if code in ("national_id_in_use", "account_already_verified", "verification_failed"):
        return code
    raise SetupError(f"verification failed: {response.status_code} {code}")
