"""Settings come from the environment through typed helpers that fail loudly."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from pollsite import settings as pollsite_settings

PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "a-production-secret-" + "x" * 50,
    "NATIONAL_ID_HMAC_KEY": "an-hmac-key-" + "y" * 40,
    "REGISTRY_CLIENT_SECRET": "a-registry-secret-" + "z" * 40,
    "REGISTRY_URL": "https://registry.example.gov",
    "ALLOWED_HOSTS": "polls.example.org",
    "DATABASE_URL": "postgres://polls:pw@db.example.org:5432/polls",
    "REDIS_URL": "redis://cache.example.org:6379/0",
}


def run_manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("helper", "value"),
    [
        (lambda: pollsite_settings.envint("X_TEST", 1), "ten"),
        (lambda: pollsite_settings.envint("X_TEST", 1, minimum=5), "3"),
        (lambda: pollsite_settings.envbool("X_TEST", False), "maybe"),
        (lambda: pollsite_settings.envfloat("X_TEST", 1.0), "fast"),
        (lambda: pollsite_settings.envchoice("X_TEST", ("a", "b"), "a"), "c"),
        (lambda: pollsite_settings.envints("X_TEST", [1]), "5, 1.5"),
        (lambda: pollsite_settings.envints("X_TEST", [1], minimum=1), "5,0"),
    ],
)
def test_it_refuses_a_bad_value(monkeypatch, helper, value):
    monkeypatch.setenv("X_TEST", value)
    with pytest.raises(ImproperlyConfigured, match="X_TEST"):
        helper()


def test_it_reads_good_values(monkeypatch):
    monkeypatch.setenv("X_TEST", "on")
    assert pollsite_settings.envbool("X_TEST", False) is True
    monkeypatch.setenv("X_TEST", "a, b,,c")
    assert pollsite_settings.envlist("X_TEST") == ["a", "b", "c"]
    monkeypatch.setenv("X_TEST", "5, 300")
    assert pollsite_settings.envints("X_TEST", [1], minimum=1) == [5, 300]
    monkeypatch.setenv("X_TEST", "")
    assert pollsite_settings.envints("X_TEST", [1]) == [1]


def test_a_bad_webhook_retry_schedule_stops_the_start_with_its_name():
    result = run_manage("check", env={"WEBHOOK_RETRY_SECONDS": "5,5m"})
    assert result.returncode != 0
    assert "WEBHOOK_RETRY_SECONDS must be integers separated by commas, not '5m'" in result.stderr


def test_it_generates_development_secrets_under_var():
    secret = pollsite_settings.SECRET_KEY
    assert len(secret) >= 50
    assert (pollsite_settings.VAR_DIR / "secrets" / "secret_key").read_text().strip() == secret


@pytest.mark.parametrize("missing", ["SECRET_KEY", "NATIONAL_ID_HMAC_KEY", "DATABASE_URL"])
def test_it_refuses_to_start_in_production_without_a_secret(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_it_passes_the_deploy_check_in_production():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout


def test_it_has_no_model_changes_without_a_migration():
    """pgtrigger and pgviews share one autodetector, so trigger changes are not missed."""
    result = run_manage("makemigrations", "--check", "--dry-run", "-v", "3", env={})
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_uses_one_autodetector_for_triggers_and_views():
    from django.core.management import get_commands, load_command_class
    from django_pgviews.db.migrations.autodetector import PGViewsAutodetector
    from pgtrigger.migrations import MigrationAutodetectorMixin

    for name in ("makemigrations", "migrate"):
        command = load_command_class(get_commands()[name], name)
        assert issubclass(command.autodetector, PGViewsAutodetector)
        assert issubclass(command.autodetector, MigrationAutodetectorMixin)
