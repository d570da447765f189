"""Login devices: OWASP's device cookies (Slow Down Online Guessing Attacks with Device
Cookies). A client that has logged in successfully holds a signed device token; while it
presents it for the same account, its failed logins count against that device alone,
not against the client's address (one guesser behind a school's NAT must not lock the
school out) nor against the username's unknown clients (a guesser must not lock the
account's owner out of their own device). Unknown clients keep both limits.

The token is signed (django.core.signing, SECRET_KEY) and names a LoginDevice row, so it
is revoked by deleting the row: logging out of every session deletes them all."""

from django.conf import settings
from django.core import signing
from django.utils import timezone

from identity.models import LoginDevice

SALT = "identity.login-device"


def issue(user) -> str:
    """A new device token for `user` (a row; the oldest beyond DEVICES_PER_USER go)."""
    device = LoginDevice.objects.create(user=user)
    newest_first = LoginDevice.objects.filter(user=user).order_by("-created_at", "-pk")
    oldest = newest_first.values_list("pk", flat=True)[settings.LOGIN_DEVICES_PER_USER :]
    LoginDevice.objects.filter(pk__in=list(oldest)).delete()
    return signing.dumps({"d": device.pk, "u": user.pk}, salt=SALT, compress=True)


def known(token, username) -> LoginDevice | None:
    """The device behind `token` if it is valid, not revoked, and `username`'s."""
    if not token:
        return None
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.LOGIN_DEVICE_MAX_AGE_SECONDS)
        device = LoginDevice.objects.select_related("user").get(pk=claims["d"], user_id=claims["u"])
    except (signing.BadSignature, LoginDevice.DoesNotExist, KeyError, TypeError):
        return None
    if device.user.username.lower() != username.lower():
        return None
    return device


def used(device):
    LoginDevice.objects.filter(pk=device.pk).update(last_used_at=timezone.now())


def revoke_all(user):
    LoginDevice.objects.filter(user=user).delete()
