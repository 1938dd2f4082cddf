"""Which addresses a procedure's ``ctx.http`` may connect to: upstream's special-purpose filter.

Upstream refuses to connect to private and special-purpose addresses, both for IP literals in
URLs (and redirects) and for every address a host name resolves to, so that a module cannot
reach the machine's own services or its private network.  The blocked ranges are the
special-purpose tables of RFC 6890 and IANA's registries, as upstream lists them
(``crates/core/src/host/instance_env.rs``); loopback (``127.0.0.0/8``, ``::1``) is blocked too
unless the server allows it (upstream's ``allow_loopback_http_for_tests`` build feature,
``LocalServer(allow_loopback_http=True)`` here).  IPv6 forms that embed an IPv4 address
(IPv4-mapped, 6to4, the translation prefixes) are blocked whole, loopback included.

Example::

    >>> HttpPolicy().is_blocked("10.1.2.3"), HttpPolicy().is_blocked("93.184.216.34")
    (True, False)
    >>> HttpPolicy(allow_loopback=True).is_blocked("127.0.0.1")
    False
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

#: What a module is told when the address it would connect to is refused (upstream's text).
BLOCKED_ADDRESS_ERROR = "refusing to connect to private or special-purpose addresses"

#: Applied when the request names no timeout (upstream ``HTTP_DEFAULT_TIMEOUT``), in seconds.
DEFAULT_TIMEOUT = 30.0
#: Longer timeouts are clamped to this (upstream ``HTTP_MAX_TIMEOUT``), in seconds.
MAX_TIMEOUT = 180.0
#: Redirects followed before giving up (reqwest's default policy, which upstream keeps).
MAX_REDIRECTS = 10

_V4_BLOCKED = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this host on this network"
        "10.0.0.0/8",  # private use
        "100.64.0.0/10",  # shared address space
        "169.254.0.0/16",  # link local
        "172.16.0.0/12",  # private use
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.31.196.0/24",  # AS112-v4
        "192.52.193.0/24",  # AMT
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private use
        "192.175.48.0/24",  # direct delegation AS112 service
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "240.0.0.0/4",  # reserved, and the limited broadcast address in it
    )
)
_V4_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")

_V6_BLOCKED = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",  # unspecified
        "64:ff9b::/96",  # IPv4-IPv6 translation
        "64:ff9b:1::/48",  # IPv4-IPv6 translation, local use
        "::ffff:0:0/96",  # IPv4-mapped
        "100::/64",  # discard-only
        "100:0:0:1::/64",  # dummy prefix
        "2001::/23",  # IETF protocol assignments (TEREDO, benchmarking, ORCHID... inside)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "2620:4f:8000::/48",  # direct delegation AS112 service
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-scoped unicast
    )
)
_V6_LOOPBACK = ipaddress.IPv6Address("::1")


@dataclass(frozen=True)
class HttpPolicy:
    """How the server lets procedures make HTTP requests.

    ``allow_loopback`` lets them reach ``127.0.0.0/8`` and ``::1`` (tests whose HTTP server
    runs on this machine need it); the timeouts are upstream's.

    Example::

        >>> HttpPolicy().default_timeout
        30.0
    """

    allow_loopback: bool = False
    default_timeout: float = DEFAULT_TIMEOUT
    max_timeout: float = MAX_TIMEOUT
    max_redirects: int = MAX_REDIRECTS

    def is_blocked(self, address: str) -> bool:
        """Whether connecting to this IP address (text form) is refused.

        Example::

            >>> HttpPolicy().is_blocked("127.0.0.1"), HttpPolicy(allow_loopback=True).is_blocked("127.0.0.1")
            (True, False)
        """
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        if isinstance(ip, ipaddress.IPv4Address):
            if ip in _V4_LOOPBACK:
                return not self.allow_loopback
            return any(ip in net for net in _V4_BLOCKED)
        if ip == _V6_LOOPBACK:
            return not self.allow_loopback
        return any(ip in net for net in _V6_BLOCKED)


def ip_literal(host: str) -> str | None:
    """``host`` as an IP address if it is one (brackets of an IPv6 literal removed).

    Example::

        >>> ip_literal("[::1]"), ip_literal("example.com")
        ('::1', None)
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return None
