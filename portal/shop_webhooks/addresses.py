"""Which webhook URLs Settle may call: http(s) only, and no private, loopback or link-local
addresses unless the operator allows them (`WEBHOOK_ALLOW_PRIVATE_ADDRESSES`), so an admin
cannot point Settle at the database, the cloud metadata service or the office network.

The check runs when an endpoint is saved and again before every delivery (the name may
resolve elsewhere by then); redirects are never followed.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class AddressRefused(ValueError):
    """The URL must not be called."""


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check(url: str, *, allow_private: bool, resolve=socket.getaddrinfo) -> None:
    """Raise AddressRefused unless `url` is an http(s) URL whose host resolves only to allowed addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("only http and https URLs are allowed")
    if not parts.hostname:
        raise AddressRefused("the URL has no host")
    if parts.username or parts.password:
        raise AddressRefused("credentials in the URL are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise AddressRefused("the port is not valid") from None
    if allow_private:
        return
    try:
        infos = resolve(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused("the host name does not resolve") from None
    addresses = {info[4][0] for info in infos}
    if not addresses or any(_private(a) for a in addresses):
        raise AddressRefused("private, loopback and link-local addresses are not allowed")
