"""The operator's egress allow-list: which private destinations tuning data and adapter pushes may use.

By default a data-source URL or an output registry must be a public host. An operator whose data lives
behind private endpoints (an Azure storage private endpoint resolving to 10.x, an in-cluster data
server, a registry on the node network) lists those CIDRs and host names with the controller's
``--egress-allow`` flag. The webhook judges literal hosts against it at admission, and the controller
hands the same list to the data movers (env ``EGRESS_ALLOW``), whose guard (presets'
``datamovers.netguard``, same grammar) checks every address a name resolves to at connect time.
Metadata and host endpoints are never allowed, whatever the list says.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ENV_EGRESS_ALLOW = "EGRESS_ALLOW"

METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # IMDS on Azure, AWS, GCP
        ipaddress.ip_address("168.63.129.16"),  # Azure WireServer
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)


def _is_label(label: str) -> bool:
    return bool(label) and all(c.isalnum() or c == "-" for c in label)


@dataclass(frozen=True)
class EgressPolicy:
    networks: tuple[Network, ...] = ()
    hosts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> EgressPolicy:
        """Entries are CIDRs or addresses (``10.20.0.0/16``), host names, or ``*.domain``; raises
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
        return cls(networks=tuple(networks), hosts=tuple(hosts))

    @property
    def entries(self) -> list[str]:
        """The list as the data movers' ``EGRESS_ALLOW`` takes it."""
        return [*(str(n) for n in self.networks), *self.hosts]

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host.endswith(e[1:]) if e.startswith("*.") else host == e for e in self.hosts)

    def allows_ip(self, ip: IP) -> bool:
        if ip in METADATA_ADDRESSES:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)
