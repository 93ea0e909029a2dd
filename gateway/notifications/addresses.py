"""Where a webhook may point: the URL rules checked when it is set, and the address rules
checked again for every address a host resolves to when the worker connects.

Refused (unless private URLs are allowed): loopback, private, link-local, CGNAT (100.64/10),
multicast, unspecified, broadcast and other non-global ranges, and the IPv6 forms that carry such
an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
``64:ff9b::/96`` and its local-use ``64:ff9b:1::/48``, 6to4 ``2002::/16``). A host written as a
number in any form ``inet_aton`` takes (``2130706433``, ``127.1``, ``0x7f.1``, ``0177.0.0.1``) is
read as the IPv4 address it stands for, as resolvers do.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

import httpx

from gateway.limits import WEBHOOK_URL_MAX

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

URL_MAX = WEBHOOK_URL_MAX
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_6TO4 = ipaddress.ip_network("2002::/16")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")
RESOLVE_TIMEOUT = 5.0


class RefusedUrl(ValueError):
    """A webhook URL or address the rules refuse; the message says why."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be called (None: it may)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded = _embedded_v4(ip)
        if embedded is not None:
            why = refusal(embedded[0])
            return None if why is None else f"{why} ({embedded[1]} form)"
        if ip.is_loopback:
            return "loopback"
        if ip in _NAT64_LOCAL:
            return "local-use NAT64"
        if ip in _IPV4_COMPATIBLE:
            return "unspecified" if ip.is_unspecified else "IPv4-compatible or reserved"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT (100.64.0.0/10)"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved, not globally reachable"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any notation a resolver takes; None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(text) and any(c.isdigit() for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def check_address(ip: IPAddress, host: str) -> None:
    why = refusal(ip)
    if why is not None:
        # The address a name resolves to is not shown: it would map the server's network.
        what = "is" if host == str(ip) else "resolves to"
        raise RefusedUrl(f"{host} {what} a {why} address; webhooks go to public addresses only.")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order, without duplicates."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
        )
    except (OSError, TimeoutError, UnicodeError, ValueError):
        # The resolver's own words are not echoed: they may describe the server's network.
        raise RefusedUrl(f"{host} does not resolve.") from None
    out: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    if not out:
        raise RefusedUrl(f"{host} does not resolve.")
    return out


def split_url(url: str, allow_http: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL that has the right form; RefusedUrl otherwise."""
    if len(url) > URL_MAX:
        raise RefusedUrl(f"webhookUrl is longer than {URL_MAX} characters.")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise RefusedUrl("webhookUrl has spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedUrl(f"webhookUrl {url[:200]!r} is not a URL: {error}.") from None
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        hint = "" if allow_http else " (http needs GATEWAY_NOTIFICATIONS_ALLOW_HTTP=true)"
        raise RefusedUrl(f"webhookUrl must be an https URL{hint}, got {url[:200]!r}.")
    if not parts.hostname:
        raise RefusedUrl(f"webhookUrl {url[:200]!r} has no host.")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("webhookUrl may not carry a user or password.")
    try:
        # The host as the sender (httpx, IDNA 2008) will spell it, so that the address
        # checked is the one called.
        host = httpx.URL(url).raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise RefusedUrl(f"webhookUrl {url[:200]!r} has a host that cannot be spelled.") from None
    if not host:
        raise RefusedUrl(f"webhookUrl {url[:200]!r} has no host.")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


async def check_url(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """Refuses (RefusedUrl) a webhook URL of the wrong form, or one whose host is or resolves
    to an address the rules refuse."""
    _, host, port = split_url(url, allow_http)
    if allow_private:
        return
    for ip in await resolve(host, port):
        check_address(ip, host)
