"""Make the reference app's database, voters and polls, and write a wrk data file.

    python -m bench.reference.seed --voters 4000 --polls 8 --preload-voters 1000 --out data.json

Run in its own process (REFERENCE_DATABASE_URL and REFERENCE_REDIS_URL set): the bench
harness has Django set up for the poll service already. Prints nothing but errors;
--out gets {"tokens": [...], "polls": [{"id": .., "options": [..]}, ...]}.
"""

import argparse
import json
import os
import sys
from datetime import timedelta


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--voters", type=int, required=True)
    parser.add_argument("--polls", type=int, required=True)
    parser.add_argument("--preload-voters", type=int, default=0, help="voters with no token")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.reference.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from bench.reference.models import Choice, Poll

    call_command("migrate", verbosity=0)
    unusable = make_password(None)
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"ref-{i}", password=unusable) for i in range(args.voters)
    )
    tokens = [str(AccessToken.for_user(user)) for user in users]
    get_user_model().objects.bulk_create(
        get_user_model()(username=f"preload-{i}", password=unusable)
        for i in range(args.preload_voters)
    )
    polls = []
    for n in range(args.polls):
        poll = Poll.objects.create(
            question=f"Reference {n + 1}", closes_at=timezone.now() + timedelta(days=1)
        )
        choices = Choice.objects.bulk_create(
            Choice(poll=poll, text=f"Option {i + 1}") for i in range(10)
        )
        polls.append({"id": poll.id, "options": [c.id for c in choices]})
    with open(args.out, "w") as out:
        json.dump({"tokens": tokens, "polls": polls}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
