"""Which addresses ``http`` jobs may call. Pure: the caller resolves names.

A job scheduler that calls URLs on users' behalf is a server-side request forgery tool
unless it refuses the addresses that only the server can reach. Always refused, whatever
the environment: link-local addresses (which include the cloud metadata services at
169.254.169.254 and fd00:ec2::254) and the unspecified and multicast ranges. In
production, loopback and private ranges are refused too, unless an operator allows them.

CHRONOS_HTTP_ALLOWED_NETWORKS lets operators open ranges (an internal service network);
CHRONOS_HTTP_DENIED_NETWORKS closes more. A denial always wins over an allowance, and
the metadata addresses cannot be allowed at all.
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


@dataclass(frozen=True)
class NetworkPolicy:
    allow_private: bool = False
    allowed: tuple[Network, ...] = field(default_factory=tuple)
    denied: tuple[Network, ...] = field(default_factory=tuple)

    def check(self, address: str) -> None:
        """Raise NetworkPolicyError unless ``address`` (an IP literal) may be called."""
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if any(ip in net for net in ALWAYS_DENIED):
            raise NetworkPolicyError(f"{ip} is a link-local or reserved address")
        if any(ip in net for net in self.denied):
            raise NetworkPolicyError(f"{ip} is in CHRONOS_HTTP_DENIED_NETWORKS")
        if any(ip in net for net in self.allowed):
            return
        if not self.allow_private and any(ip in net for net in PRIVATE):
            raise NetworkPolicyError(
                f"{ip} is a loopback or private address (allow it with "
                "CHRONOS_HTTP_ALLOWED_NETWORKS)"
            )
