"""Outbound HTTP that cannot be turned against the inside (server-side request forgery).

A URL from a project file (a webhook target, a remote model) is reached at a public address only, unless the
project file allows its host by name (``network.allow``). Every request goes through ``Guard``: the host is
resolved once, every address it resolves to is checked (loopback, private, link-local and cloud metadata, shared,
multicast, reserved, in any spelling the resolver accepts: ``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
``127.1``, ``::ffff:127.0.0.1``), and the connection goes to the very address that was checked, with the URL's
Host header and TLS server name: a DNS answer that changes between the check and the connection (DNS
rebinding) is never used. A redirect is a new request through the same check; ``client`` follows none.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# Instance metadata services that are not inside the link-local range (AWS over IPv6, Alibaba Cloud).
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
COMPAT = ipaddress.ip_network("::/96")


class AddressRefused(httpx.ConnectError):
    """The guard refused to connect: the host is or resolves to an address that is not public."""

    def __init__(self, url: str, host: str, address: str, kind: str, request: httpx.Request | None = None) -> None:
        self.host, self.address, self.kind = host, address, kind
        named = "" if host == address else f" ({host} resolves to it)"
        super().__init__(
            f"refused to connect to {address}, a {kind} address{named}, for {url}: outbound requests go to public "
            f"addresses only; if this host is meant to be reached, allow it in the project file: "
            f'network: allow: ["{host}"]',
            request=request,
        )


def kind_of(address: Address) -> str | None:
    """Why ``address`` is refused (loopback, private, ...), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and not (address.is_loopback or address.is_unspecified):
        # an IPv4 address inside an IPv6 one (mapped, 6to4, NAT64, the old "compatible" ::a.b.c.d) is judged as such
        last = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        embedded = address.ipv4_mapped or address.sixtofour or (last if address in NAT64 or address in COMPAT else None)
        if embedded is not None:
            return kind_of(embedded)
    checks = (
        (address.is_loopback, "loopback"),
        (address in METADATA, "cloud metadata"),
        (address.is_link_local, "link-local"),
        (address.is_unspecified, "unspecified"),
        (address.is_multicast, "multicast"),
        (address.is_private or getattr(address, "is_site_local", False), "private"),
        (not address.is_global, "reserved"),
    )
    return next((kind for refused, kind in checks if refused), None)


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives ``host`` (the same resolver a plain connection would use)."""
    return list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


def normal(host: str) -> str:
    """A host as the allow list compares it: lower case, without brackets, an IP address in its usual spelling."""
    bare = host.strip().strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return bare


def checked(
    url: str, allow: Iterable[str] = (), resolver: Resolver = resolve, request: httpx.Request | None = None
) -> list[str]:
    """The addresses ``url``'s host resolves to, all of them public (none for a host in ``allow``); else
    ``AddressRefused`` naming the first one that is not. It reads the URL itself: a spelling that httpx refuses to
    parse (``0177.0.0.1``) is still named here, as the system resolver would read it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if normal(host) in {normal(h) for h in allow}:
        return []
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = resolver(host, port)
    except (OSError, UnicodeError) as error:
        raise httpx.ConnectError(f"cannot resolve {host} for {url}: {error}", request=request) from error
    if not found:
        raise httpx.ConnectError(f"{host} resolves to no address, for {url}", request=request)
    for text in found:
        kind = kind_of(ipaddress.ip_address(text.partition("%")[0]))
        if kind is not None:
            raise AddressRefused(url, host, text, kind, request)
    return found


class Guard(httpx.BaseTransport):
    """An httpx transport that sends each request to a checked address only (see the module's docstring)."""

    def __init__(
        self, allow: Iterable[str] = (), inner: httpx.BaseTransport | None = None, resolver: Resolver = resolve
    ) -> None:
        self.allow = frozenset(normal(host) for host in allow)
        self.inner = inner or httpx.HTTPTransport()
        self.resolver = resolver

    def pinned(self, request: httpx.Request) -> httpx.Request:
        """The request aimed at the checked address of its host, or ``AddressRefused``."""
        url = request.url
        found = checked(str(url), self.allow, self.resolver, request)
        if not found:
            return request  # an allowed host
        extensions: dict[str, Any] = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host  # the certificate is checked against the name, not the address
        return httpx.Request(
            request.method,
            url.copy_with(host=found[0]),
            headers=request.headers,  # Host: keeps the name of the URL
            stream=request.stream,
            extensions=extensions,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(self.pinned(request))

    def close(self) -> None:
        self.inner.close()


def client(allow: Iterable[str] = (), *, timeout: float = 10.0, follow_redirects: bool = False) -> httpx.Client:
    """An httpx client whose every request, redirect hops included, goes through ``Guard``; proxies from the
    environment are not used (a proxy would connect on its own, past the check)."""
    return httpx.Client(transport=Guard(allow), timeout=timeout, follow_redirects=follow_redirects)
