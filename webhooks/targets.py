"""Where a webhook may be delivered. In production a target that resolves to a loopback,
private, link-local (the cloud metadata service, 169.254.169.254), unique-local,
multicast, reserved or unspecified address is refused: at registration, and again at
every delivery (a name can resolve elsewhere later), and the delivery then connects to
the address that was checked, not to a second lookup. Development and tests deliver to
a receiver on loopback only with WEBHOOK_ALLOW_PRIVATE_TARGETS=true."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from webhooks.errors import TargetRefused


def checked_address(url: str) -> tuple[str, str]:
    """(host, an address to connect to) for `url`, or TargetRefused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("A webhook URL is http:// or https:// with a host.")
    if settings.PRODUCTION and parts.scheme != "https":
        raise TargetRefused("A webhook URL is https:// in production.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetRefused(f"{parts.hostname} does not resolve.") from None
    addresses = [str(info[4][0]) for info in found]
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            if not ipaddress.ip_address(address.split("%")[0]).is_global:
                raise TargetRefused(
                    f"{parts.hostname} resolves to {address}, which is not a public address."
                )
    return parts.hostname, addresses[0]
