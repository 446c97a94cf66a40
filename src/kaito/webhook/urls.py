"""Server-side request forgery guard for data-source URLs.

The tuning Job downloads these URLs from inside the cluster, so a URL aimed at loopback, a pod or
node network, or a cloud metadata endpoint would let a Workspace author read things they should
not. Only the literal host is judged (no DNS lookup: admission must be fast and deterministic, and
a lookup here proves nothing about what the downloader will resolve later).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from kaito.egress import IP, METADATA_ADDRESSES, EgressPolicy
from kaito.webhook.images import ImageReference, parse_reference

# Names that resolve to metadata services or to the local machine on common clouds.
_BLOCKED_HOSTS = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
    }
)
_BLOCKED_SUFFIXES = (".localhost", ".internal", ".svc", ".svc.cluster.local", ".cluster.local")
# inet_aton accepts the legacy forms curl also accepts: 2130706433, 0x7f.1, 127.1, 017700000001.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")
# Prefixes that carry an IPv4 address in their low 32 bits and are routed to it: NAT64 (RFC 6052,
# RFC 8215) and the deprecated IPv4-compatible form ::a.b.c.d.
_EMBEDDING_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)
_DNS_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
# Wildcard-DNS names such as 127.0.0.1.nip.io or 10-0-0-1.sslip.io resolve to the address they spell.
_SPELLED_IPV4 = re.compile(r"(?<![0-9])([0-9]{1,3})[.-]([0-9]{1,3})[.-]([0-9]{1,3})[.-]([0-9]{1,3})(?![0-9])")

ACCEPTED = (
    "an http(s) URL to a public host (e.g. https://huggingface.co/datasets/...) or to a destination on the "
    "operator's egress allow-list (the controller's --egress-allow)"
)


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _unwrap(ip: IP) -> IP:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64, IPv4-compatible), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and int(ip) > 1 and any(ip in net for net in _EMBEDDING_IPV4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return ip


def _ip_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    ip = _unwrap(ip)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata or host endpoint (IMDS, Azure's WireServer)"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (this includes cloud metadata endpoints such as 169.254.169.254)"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private-network address"
    if not ip.is_global:
        return "a non-public address"
    return None


def check_url(url: str, egress: EgressPolicy | None = None) -> str | None:
    """Why ``url`` may not be downloaded, or None when it is acceptable: a public host, or a destination on
    the operator's egress allow-list."""
    if "\\" in url:
        # Browsers and some HTTP clients read a backslash as '/', others as part of the host.
        return f"{url!r} contains a backslash; percent-encode it (%5C)"
    if any(c.isspace() for c in url) or "," in url:
        # Upstream's downloader joins and re-splits the list on these; a URL holding one would be cut
        # in two there. Percent-encode them (%20, %2C).
        return f"{url!r} contains whitespace or a comma; percent-encode it (%20, %2C), one URL per list item"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc}); expected {ACCEPTED}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{url!r} uses scheme {parts.scheme or '(none)'!r}; only http and https are accepted"
    if not host:
        return f"{url!r} has no host; expected {ACCEPTED}"
    problem = check_host(host, egress)
    return f"{url!r} targets {problem}; expected {ACCEPTED}" if problem is not None else None


def check_host(host: str, egress: EgressPolicy | None = None) -> str | None:
    """Why ``host`` (a name or an IP literal, without port or brackets) may not be reached from the cluster,
    as a phrase ("a loopback address (127.0.0.1)"), or None: a public host, or one on the operator's
    egress allow-list. The one egress policy for every host a data mover reaches."""
    host = host.rstrip(".").lower()
    egress = egress or EgressPolicy()
    if egress.allows_host(host):
        return None
    ip = _literal_ip(host)
    if ip is not None and egress.allows_ip(_unwrap(ip)):
        return None
    if host in _BLOCKED_HOSTS or host.endswith(_BLOCKED_SUFFIXES):
        return f"{host!r}, a local, in-cluster or cloud-metadata host"
    if ip is not None:
        problem = _ip_problem(ip)
        return f"{problem} ({ip})" if problem is not None else None
    if not _DNS_NAME.match(host):
        # Percent-encoded, Unicode or otherwise odd names are decoded differently by different clients.
        return f"{host!r}, which is not a plain DNS name (use the punycode form of an international name)"
    for spelled in _SPELLED_IPV4.finditer(host):
        octets = [int(o) for o in spelled.groups()]
        if all(o < 256 for o in octets):
            address = ipaddress.IPv4Address(".".join(map(str, octets)))
            problem = None if egress.allows_ip(address) else _ip_problem(address)
            if problem is not None:
                return f"{host!r}, a wildcard-DNS name that resolves to {problem}"
    return None


def check_registry_host(reference: str, egress: EgressPolicy | None = None) -> str | None:
    """Why the registry of image ``reference`` may not be pushed to from the cluster, or None. A reference
    without a registry host (``repo/name:tag``) means Docker Hub, which is public; one that is not a
    reference at all is left to :func:`~kaito.webhook.images.parse_reference`'s message."""
    parsed = parse_reference(reference)
    if not isinstance(parsed, ImageReference) or not parsed.domain:
        return None
    problem = check_host(parsed.host, egress)
    if problem is None:
        return None
    return f"the registry {parsed.domain!r} of {reference!r} is {problem}"
