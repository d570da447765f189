from django.conf import settings
from django.db import models


class VoterIdentity(models.Model):
    """The verified person behind an account.

    The national ID itself is never stored: `voter_key` is its keyed HMAC-SHA256 blind
    index (see identity.blind_index), unique across the table so one number binds to one
    account, and it is the key that votes use (polls.Vote.voter_key). Only the last four
    digits and the registry's name are kept, for display.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="voter_identity"
    )
    voter_key = models.BinaryField(max_length=32, unique=True, editable=False)
    key_version = models.PositiveSmallIntegerField(
        help_text="Version of NATIONAL_ID_HMAC_KEY that computed voter_key."
    )
    national_id_last4 = models.CharField(max_length=4)
    full_name = models.CharField(max_length=300, help_text="As the registry returned it.")
    verified_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "voter identities"

    def __str__(self):
        return f"{self.full_name} (…{self.national_id_last4})"


class LoginDevice(models.Model):
    """A client that has logged in to this account before: it holds a signed device
    token naming this row (identity/devices.py), and its failed logins count against it
    alone, not against its address or the account's unknown clients. Deleting the row
    revokes the token."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_devices"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"device {self.pk} of {self.user_id}"
