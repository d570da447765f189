"""Writes for accounts, tokens and national ID verification."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.exceptions import ValidationError

from identity import blind_index, devices, errors, national_id, registry
from identity.models import VoterIdentity
from pollsite import ratelimit

logger = logging.getLogger(__name__)
if TYPE_CHECKING:
    from django.contrib.auth.models import User  # what get_user_model() gives here
else:
    User = get_user_model()


# --- Accounts and tokens ---------------------------------------------------------------


def user_register(*, username: str, password: str, email: str = "") -> User:
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError:  # two sign-ups raced for one name; the constraint decided
        raise ValidationError({"username": ["A user with that username already exists."]}) from None
    return candidate


@dataclass(frozen=True)
class Login:
    token: AuthToken
    secret: str  # the bearer token
    device_token: str  # to send with the next logins (identity/devices.py)


def token_create(*, username: str, password: str, client_ip: str, device_token=None) -> Login:
    """Log in: a new token for valid credentials, or 401 invalid_credentials.

    Limits stop guessing, not crowds: only failed logins count. A client with a valid
    device token for this account (it logged in before: identity/devices.py) is counted
    per device alone, so neither a guesser behind its address nor one trying this
    username locks it out. Any other client is counted per username and per address (so
    a school behind one NAT address can all log in), and a success clears its
    username's failures. Each attempt is counted before the password is checked (so
    concurrent guesses cannot slip past the limit) and taken back if it succeeds or is
    refused before the check.
    """
    device = devices.known(device_token, username)
    # (scope, key, limit, what a success does to its count)
    limits: list[tuple[str, str | int, int, Callable[[str, str | int], None]]]
    if device is not None:
        limits = [("login-device", device.pk, settings.LOGIN_ATTEMPTS_PER_DEVICE, ratelimit.reset)]
    else:
        limits = [
            ("login-user", username.lower(), settings.LOGIN_ATTEMPTS_PER_USERNAME, ratelimit.reset),
            # A crowd behind one address: a success takes back only its own attempt.
            ("login-ip", client_ip, settings.LOGIN_ATTEMPTS_PER_IP, ratelimit.refund),
        ]
    counted = []
    try:
        for scope, key, limit, on_success in limits:
            _login_hit(scope, key, limit)
            counted.append((scope, key, on_success))
    except ratelimit.TooManyAttempts:
        for scope, key, _ in counted:
            ratelimit.refund(scope, key)  # refused unchecked: not a guess
        raise
    user = authenticate(username=username, password=password)
    if user is None:
        raise errors.InvalidCredentials()
    for scope, key, on_success in counted:
        on_success(scope, key)
    # Authentication never deletes expired tokens (it sits on the vote path); login does.
    AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
    token, secret = AuthToken.objects.create(user)
    if device is not None:
        devices.used(device)
        return Login(token, secret, device_token)
    return Login(token, secret, devices.issue(user))


def _login_hit(scope, key, limit):
    ratelimit.hit(scope, key, limit=limit, window=settings.LOGIN_WINDOW_SECONDS, fail_open=True)


def token_revoke(*, token: AuthToken) -> None:
    token.delete()


def tokens_purge_expired() -> int:
    """Delete the rows of tokens past their expiry (already refused at every request:
    knox checks the expiry). A login purges its own user's; this, everyone's."""
    deleted, _ = AuthToken.objects.filter(expiry__lte=timezone.now()).delete()
    return int(deleted)


def tokens_revoke_all(*, user) -> None:
    """Log out everywhere: every token of the account dies, and every device token, so
    a lost device is neither logged in nor spared the login limits any more."""
    AuthToken.objects.filter(user=user).delete()
    devices.revoke_all(user)


# --- National ID verification ------------------------------------------------------------


def identity_verify(*, user: User, raw_national_id: str, date_of_birth: date) -> VoterIdentity:
    """Verify `user` as the holder of a national ID, against the registry.

    Order matters: the account's attempts are counted first, the number is checked
    locally (no registry call for a bad one), the number's attempts are counted, and
    only a number and date of birth that check out can learn that the number is taken.
    """
    ratelimit.hit(
        "verify-account",
        user.pk,
        limit=settings.VERIFY_ATTEMPTS_PER_ACCOUNT,
        window=settings.VERIFY_WINDOW_SECONDS,
        fail_open=False,
    )
    scheme = national_id.get_scheme(settings.NATIONAL_ID_SCHEME)
    try:
        number = scheme.validate(raw_national_id)
    except national_id.InvalidNationalId:
        raise errors.InvalidNationalId(f"This is not a valid {scheme.label}.") from None
    key = blind_index.voter_key(number)
    ratelimit.hit(
        "verify-number",
        key.hex(),
        limit=settings.VERIFY_ATTEMPTS_PER_NATIONAL_ID,
        window=settings.VERIFY_WINDOW_SECONDS,
        fail_open=False,
    )

    existing = VoterIdentity.objects.filter(user=user).first()
    if existing is not None:
        return _already_verified(existing, key)
    if not scheme.matches_birth_date(number, date_of_birth):
        raise errors.VerificationFailed()
    citizen = _lookup(number)
    _check_eligible(citizen, date_of_birth)
    return _bind(user=user, key=key, number=number, full_name=citizen.full_name)


def _already_verified(existing: VoterIdentity, key: bytes) -> VoterIdentity:
    if bytes(existing.voter_key) == key:
        return existing  # the same number again: idempotent
    raise errors.AccountAlreadyVerified()


def _lookup(number):
    try:
        return registry.lookup(number)
    except registry.RegistryUnavailable as exc:
        raise errors.RegistryUnavailable(retry_after=exc.retry_after) from None


def _check_eligible(citizen, date_of_birth):
    if citizen is None:
        raise errors.VerificationFailed()
    if citizen.date_of_birth != date_of_birth:
        raise errors.VerificationFailed()
    if citizen.status != "alive":
        raise errors.VerificationFailed()
    if _age_on(citizen.date_of_birth, timezone.localdate()) < settings.VOTING_AGE:
        raise errors.VerificationFailed()


def _age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _bind(*, user: User, key: bytes, number: str, full_name: str) -> VoterIdentity:
    """Store the verification; the unique voter_key decides races between accounts."""
    try:
        with transaction.atomic():
            return VoterIdentity.objects.create(
                user=user,
                voter_key=key,
                key_version=blind_index.key_version(),
                national_id_last4=national_id.last4(number),
                full_name=full_name,
                verified_at=timezone.now(),
            )
    except IntegrityError:
        pass
    # Either another account holds this number, or this account won a race against itself.
    mine = VoterIdentity.objects.filter(user=user).first()
    if mine is not None:
        return _already_verified(mine, key)
    raise errors.NationalIdInUse()
