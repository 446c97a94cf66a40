"""SSRF guard: which addresses a user-supplied URL or registry may make a data mover connect to.

A tuning Workspace lets a user name arbitrary URLs and an output registry that a pod inside the cluster
contacts; without a guard they could reach the cloud metadata service, the API server or other pods.
Every address a host name resolves to is checked, and the downloader then connects to the checked
address itself, so that a second DNS answer cannot swap in another (DNS rebinding).

The default denies loopback, private, link-local and metadata addresses. The operator widens it with
an egress allow-list (``EGRESS_ALLOW``, set by the workspace controller from its ``--egress-allow``
flag, the same list its webhook enforces at admission): CIDRs (``10.20.0.0/16``, ``10.245.0.1``) and
host names (``data.corp.example``, or ``*.privatelink.blob.core.windows.net`` for a whole domain).
An address inside an allowed CIDR is allowed; an allowed host name may resolve to private addresses.
Metadata and host endpoints (IMDS, Azure's WireServer) stay refused whatever the list says.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ENV_EGRESS_ALLOW = "EGRESS_ALLOW"

# Metadata and host endpoints, some of which are not covered by the private/link-local ranges.
_METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # IMDS (Azure, AWS, GCP)
        ipaddress.ip_address("168.63.129.16"),  # Azure WireServer
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)


# Carrier-grade NAT space: not "private" to Python, but never a public data source.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# Prefixes that carry an IPv4 address in their low 32 bits and are routed to it: NAT64 (RFC 6052,
# RFC 8215) and the deprecated IPv4-compatible form ::a.b.c.d. The webhook's admission check unwraps
# the same ones, so a name resolving to 64:ff9b::a9fe:a9fe is refused here as the literal is there.
_EMBEDDING_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)


class BlockedAddress(ValueError):
    pass


def _is_label(label: str) -> bool:
    return bool(label) and all(c.isalnum() or c == "-" for c in label)


@dataclass(frozen=True)
class Policy:
    allow_loopback: bool = False
    networks: tuple[Network, ...] = ()
    hosts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str], *, allow_loopback: bool = False) -> Policy:
        """A policy from allow-list entries (CIDRs, addresses, host names, ``*.domain``); raises
        ValueError naming a malformed entry."""
        networks: list[Network] = []
        hosts: list[str] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            name = entry[2:] if entry.startswith("*.") else entry
            if not name or not all(_is_label(label) for label in name.split(".")):
                raise ValueError(f"egress allow-list entry {raw!r} is neither a CIDR nor a host name")
            hosts.append(entry)
        return cls(allow_loopback=allow_loopback, networks=tuple(networks), hosts=tuple(hosts))

    @classmethod
    def from_env(cls, *, allow_loopback: bool = False) -> Policy:
        return cls.parse(os.environ.get(ENV_EGRESS_ALLOW, "").split(","), allow_loopback=allow_loopback)

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self.hosts:
            if entry.startswith("*.") and host.endswith(entry[1:]):
                return True
            if host == entry:
                return True
        return False

    def allows_ip(self, ip: IP) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


def _unwrap(ip: IP) -> IP:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64, IPv4-compatible), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        # :: and ::1 are in ::/96 but are themselves, not 0.0.0.0 and 0.0.0.1.
        if embedded is None and int(ip) > 1 and any(ip in net for net in _EMBEDDING_IPV4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return ip


def check_ip(ip: IP, policy: Policy, *, trusted_host: bool = False) -> None:
    """Raises BlockedAddress unless ``ip`` may be contacted. ``trusted_host``: the name that resolved to
    it is on the allow-list, so a private address is fine."""
    ip = _unwrap(ip)
    if ip in _METADATA:
        raise BlockedAddress(f"{ip} is a cloud metadata or host endpoint")
    if policy.allows_ip(ip):
        return
    if ip.is_loopback:
        if policy.allow_loopback:
            return
        raise BlockedAddress(f"{ip} is a loopback address")
    if ip.is_link_local:
        raise BlockedAddress(f"{ip} is a link-local address")
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        raise BlockedAddress(f"{ip} is not a unicast address")
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED):
        if trusted_host:
            return
        raise BlockedAddress(f"{ip} is a private address, not on the operator's egress allow-list")


def resolve(host: str, port: int, policy: Policy) -> str:
    """Returns one checked IP for host; refuses if any address it resolves to is blocked."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise OSError(f"cannot resolve {host}: {err}") from err
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no addresses")
    trusted = policy.allows_host(host)
    for addr in addresses:
        check_ip(ipaddress.ip_address(addr.split("%")[0]), policy, trusted_host=trusted)
    return addresses[0]
