"""The settings the simulator shares with the app, read from the environment as
pollsite/settings.py reads them (same names, same defaults from pollsite/defaults.py),
without booting Django."""

import os

from pollsite import defaults


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it."""


def _env(name, default=""):
    return os.environ.get(name, "").strip() or default


def registry_url():
    """Where the app looks for the registry: the simulator's default address."""
    return _env("REGISTRY_URL", defaults.embedded_registry_url())


def national_id_scheme():
    return _env("NATIONAL_ID_SCHEME", defaults.NATIONAL_ID_SCHEME)


def citizens_file():
    """REGISTRY_SIM_DATA: a CSV of citizens, or None for the demo population."""
    return _env("REGISTRY_SIM_DATA") or None


def voting_age():
    value = _env("VOTING_AGE", str(defaults.VOTING_AGE))
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"VOTING_AGE must be an integer, not {value!r}") from None


def client_id():
    return _env("REGISTRY_CLIENT_ID", defaults.REGISTRY_CLIENT_ID)


def client_secret():
    """The app's REGISTRY_CLIENT_SECRET; in development, the one generated under var/."""
    secret = os.environ.get("REGISTRY_CLIENT_SECRET", "")
    if secret:
        return secret
    if _env("DJANGO_ENV", "development") == "production":
        raise ConfigError("REGISTRY_CLIENT_SECRET must be set")
    return defaults.development_secret("REGISTRY_CLIENT_SECRET")
