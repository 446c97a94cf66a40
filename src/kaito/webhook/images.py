"""Image references parsed with the distribution reference grammar (github.com/distribution/reference).

The grammar is the one container runtimes and registries use, so a reference admitted here is one
the kubelet and the pusher parse the same way. A reference carrying credentials
(``user:pass@registry/repo:tag``) is refused: it would leak them into pod specs, events and logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN_AND_PORT})/)?(?P<path>{_REMOTE_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_NAME_TOTAL_LENGTH_MAX = 255


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference: ``domain`` is the registry host[:port] ('' when the reference has none)."""

    domain: str
    path: str
    tag: str
    digest: str

    @property
    def host(self) -> str:
        """The registry host without port or IPv6 brackets."""
        host = self.domain
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host


def parse_reference(reference: str) -> ImageReference | str:
    """The parsed reference, or why it is not one (a message without the field name)."""
    head = reference.split("/", 1)[0]
    if "@" in head and "/" in reference:
        return (
            f"{reference.split('@', 1)[-1]!r}: credentials are not allowed in an image reference; use an "
            "image pull/push Secret"
        )
    match = _REFERENCE.match(reference)
    if match is None:
        lowered = reference.lower()
        if lowered != reference and _REFERENCE.match(lowered):
            return f"{reference!r}: repository names must be lower-case"
        return (
            f"{reference!r} is not a valid image reference; expected "
            "[registry[:port]/]repository[:tag][@digest]"
        )
    domain = match.group("domain") or ""
    path = match.group("path")
    # ParseNormalizedNamed: a first component without '.' or ':' (and not localhost) is a Docker Hub path.
    if domain and not ("." in domain or ":" in domain or domain == "localhost" or domain.startswith("[")):
        domain, path = "", f"{domain}/{path}"
    if len(f"{domain}/{path}" if domain else path) > _NAME_TOTAL_LENGTH_MAX:
        return f"{reference!r}: the repository name is longer than {_NAME_TOTAL_LENGTH_MAX} characters"
    return ImageReference(domain, path, match.group("tag") or "", match.group("digest") or "")
