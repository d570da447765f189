"""Voters, tokens and polls for the bench, written straight into the stack's database.

No registry round trip: a voter is what identity.services leaves behind after a
successful verification (a user, a VoterIdentity with a random 32-byte voter key) plus a
knox token made the way knox makes them. Bulk inserts keep 4,000 voters to a second or two.
Django is set up in this process only when the stack's environment is in place.
"""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

OPTIONS_PER_POLL = 10


@dataclass
class PollFixture:
    id: int
    options: list = field(default_factory=list)


def setup_django():
    import django

    django.setup()


def create_voters(count, *, prefix="bench"):
    """`count` verified users, each with a valid bearer token; returns the tokens."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from knox.models import AuthToken, get_digest_token
    from knox.settings import CONSTANTS, knox_settings

    from identity.models import VoterIdentity

    now = timezone.now()
    unusable = make_password(None)  # voters log in with their token only
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"{prefix}-{i}", password=unusable) for i in range(count)
    )
    VoterIdentity.objects.bulk_create(
        VoterIdentity(
            user=user,
            voter_key=secrets.token_bytes(32),
            key_version=1,
            national_id_last4="0000",
            full_name=user.username,
            verified_at=now,
        )
        for user in users
    )
    tokens, rows = [], []
    for user in users:
        digest, token = get_digest_token()
        tokens.append(token)
        rows.append(
            AuthToken(
                user=user,
                digest=digest,
                token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH],
                expiry=now + knox_settings.TOKEN_TTL,
            )
        )
    AuthToken.objects.bulk_create(rows, batch_size=1000)
    return tokens


def staff_user():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "password": make_password(None)}
    )
    return user


def create_polls(count, *, title, ballot_kind="single"):
    """`count` open polls (through polls.services, as the API would) of 10 options each."""
    from django.utils import timezone

    from polls import services

    staff = staff_user()
    now = timezone.now()
    polls = []
    for n in range(count):
        poll = services.poll_create(
            created_by=staff,
            title=f"{title} {n + 1}",
            opens_at=now - timedelta(minutes=1),
            closes_at=now + timedelta(days=1),
            options=[{"label": f"Option {i + 1}"} for i in range(OPTIONS_PER_POLL)],
            ballot_kind=ballot_kind,
        )
        options = list(poll.options.order_by("position").values_list("id", flat=True))
        polls.append(PollFixture(poll.id, options))
    return polls


def write_wrk_data(path, tokens, polls):
    """The file the Lua scripts read: `T <token>` and `P <poll> <option>...` lines."""
    lines = [f"T {t}" for t in tokens]
    lines += [f"P {p.id} {' '.join(map(str, p.options))}" for p in polls]
    path.write_text("\n".join(lines) + "\n")
    return path
