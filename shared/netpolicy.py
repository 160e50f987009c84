"""Which addresses ``http`` jobs may call. Pure: the caller resolves names.

A job scheduler that calls URLs on users' behalf is a server-side request forgery tool
unless it refuses the addresses that only the server can reach. Always refused, whatever
the environment: link-local addresses (which include the cloud metadata services at
169.254.169.254 and fd00:ec2::254) and the unspecified and multicast ranges. In
production, loopback and private ranges are refused too, unless an operator allows them.

Beyond those, only globally routable addresses (``is_global``) may be called: every IANA
special-purpose range (benchmarking 198.18.0.0/15, 192.0.0.0/24, 240.0.0.0/4, 100::/64,
documentation ranges, ...) is refused, and so are ranges Python still calls global
(site-local fec0::/10, Teredo 2001::/32, local-use NAT64 64:ff9b:1::/48). An IPv6
address that embeds an IPv4 one (IPv4-mapped and -compatible, IPv4-translated, NAT64
64:ff9b::/96, 6to4 2002::/16) is checked as that IPv4 address too: on a NAT64 network
``64:ff9b::a00:5`` is 10.0.0.5.

CHRONOS_HTTP_ALLOWED_NETWORKS lets operators open ranges (an internal service network);
CHRONOS_HTTP_DENIED_NETWORKS closes more. A denial always wins over an allowance, and
the metadata addresses cannot be allowed at all. CHRONOS_HTTP_ALLOWED_PORTS limits the
ports (none: any).

The error says only that the destination is not allowed: naming the address, or why it
is refused, would tell users where an internal name points.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ALWAYS_DENIED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.0.0/16",  # link-local, AWS/GCP/Azure metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "0.0.0.0/8",
        "::/128",
        "224.0.0.0/4",
        "ff00::/8",
        "255.255.255.255/32",
    )
)
PRIVATE: tuple[Network, ...] = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # carrier-grade NAT
        "fc00::/7",
    )
)
# Python's is_global misses these (3.11): refused outright, as an embedded address
# cannot be told reliably from their form.
NOT_GLOBAL: tuple[Network, ...] = tuple(
    ipaddress.ip_network(net)
    for net in (
        "fec0::/10",  # deprecated site-local
        "2001::/32",  # Teredo: the client's IPv4 address is obfuscated in it
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215), any prefix length
        "192.0.0.0/24",  # IETF protocol assignments, whatever a Python version thinks
    )
)
# Well-known NAT64 (RFC 6052), IPv4-compatible and IPv4-translated: the last 32 bits.
EMBEDS_LAST_32: tuple[Network, ...] = tuple(
    ipaddress.ip_network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)
REFUSED = "destination not allowed"


class NetworkPolicyError(ValueError):
    """An address or a CHRONOS_HTTP_*_NETWORKS entry that the policy refuses."""


def parse_networks(raw: str, variable: str) -> tuple[Network, ...]:
    networks = []
    for item in raw.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise NetworkPolicyError(f"{variable}: {item.strip()!r} is not a network") from None
    return tuple(networks)


def parse_ports(raw: str, variable: str) -> frozenset[int]:
    """A comma-separated list of TCP ports; empty means any port."""
    ports = set()
    for item in raw.split(","):
        if item.strip():
            try:
                port = int(item.strip())
            except ValueError:
                port = 0
            if not 1 <= port <= 65535:
                raise NetworkPolicyError(f"{variable}: {item.strip()!r} is not a TCP port")
            ports.add(port)
    return frozenset(ports)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, translated, NAT64,
    6to4), or None."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if int(ip) >> 32 == 0 and int(ip) <= 1:
        return None  # :: and ::1 are themselves, not 0.0.0.0 and 0.0.0.1
    if any(ip in net for net in EMBEDS_LAST_32):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class NetworkPolicy:
    allow_private: bool = False
    allowed: tuple[Network, ...] = field(default_factory=tuple)
    denied: tuple[Network, ...] = field(default_factory=tuple)
    # Empty: any port.
    ports: frozenset[int] = field(default_factory=frozenset)

    def check(self, address: str, port: int | None = None) -> None:
        """Raise NetworkPolicyError unless ``address`` (an IP literal) may be called, on
        ``port`` if given. The message never names the address."""
        ip = ipaddress.ip_address(address)
        if port is not None:
            self.check_port(port)
        candidates: list[Address] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            embedded = embedded_ipv4(ip)
            if embedded is not None:
                # ::ffff:169.254.169.254 is 169.254.169.254; a NAT64 or 6to4 address is
                # checked as the IPv4 address it reaches.
                candidates = [embedded] if ip.ipv4_mapped is not None else [ip, embedded]
        for candidate in candidates:
            self._check_one(candidate)

    def check_port(self, port: int) -> None:
        if self.ports and port not in self.ports:
            raise NetworkPolicyError(f"{REFUSED}: port {port} is not in CHRONOS_HTTP_ALLOWED_PORTS")

    def _check_one(self, ip: Address) -> None:
        if any(ip in net for net in ALWAYS_DENIED):
            raise NetworkPolicyError(REFUSED)
        if any(ip in net for net in self.denied):
            raise NetworkPolicyError(REFUSED)
        if any(ip in net for net in self.allowed):
            return
        if any(ip in net for net in PRIVATE):
            if not self.allow_private:
                raise NetworkPolicyError(REFUSED)
            return
        if isinstance(ip, ipaddress.IPv6Address) and embedded_ipv4(ip) is not None:
            return  # a carrier of an IPv4 address, checked as that address
        if not ip.is_global or any(ip in net for net in NOT_GLOBAL):
            raise NetworkPolicyError(REFUSED)
