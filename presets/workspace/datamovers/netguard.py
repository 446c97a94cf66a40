"""SSRF guard: which addresses a user-supplied URL may make the downloader connect to.

A tuning Workspace lets a user name arbitrary URLs that a pod inside the cluster fetches;
without a guard they could reach the cloud metadata service, the API server or other pods.
Every address a host name resolves to is checked, and the connection then goes to the
checked address itself, so that a second DNS answer cannot swap in another (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

# Metadata endpoints that are not covered by the private/link-local ranges everywhere.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}


class BlockedAddress(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    allow_loopback: bool = False
    allow_private: bool = False


def check_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, policy: Policy) -> None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        raise BlockedAddress(f"{ip} is a cloud metadata address")
    if ip.is_loopback:
        if policy.allow_loopback:
            return
        raise BlockedAddress(f"{ip} is a loopback address")
    if ip.is_link_local:
        raise BlockedAddress(f"{ip} is a link-local address")
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        raise BlockedAddress(f"{ip} is not a unicast address")
    if ip.is_private or (
        isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10")
    ):
        if policy.allow_private:
            return
        raise BlockedAddress(f"{ip} is a private address")


def resolve(host: str, port: int, policy: Policy) -> str:
    """Returns one checked IP for host; refuses if any address it resolves to is blocked."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise OSError(f"cannot resolve {host}: {err}") from err
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no addresses")
    for addr in addresses:
        check_ip(ipaddress.ip_address(addr.split("%")[0]), policy)
    return addresses[0]
