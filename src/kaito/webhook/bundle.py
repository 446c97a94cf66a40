"""The webhook's certificate bundle as stored in its Secret: plain PEM bytes, no cryptography.

The long-running controller keeps only this; minting, renewing and reading certificates happens in
:mod:`kaito.webhook.certs`, which the controller runs in a short-lived process
(:mod:`kaito.webhook.cert_tool`) so that it never loads ``cryptography`` (~8 MiB resident for good).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

CA_VALIDITY = timedelta(days=3650)
SERVING_VALIDITY = timedelta(days=365)
# Rotate well before expiry so a stalled controller still has weeks to pick the new cert up.
ROTATE_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class CertBundle:
    """PEM-encoded CA and serving key pair, as stored in the Secret."""

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes
    # After a CA rotation the old CA stays trusted until it expires, so replicas still serving a
    # certificate from it keep working while they pick up the new one.
    previous_ca_cert: bytes = b""

    @property
    def ca_bundle(self) -> bytes:
        """PEM for the webhook configuration's caBundle: the CA, plus the previous CA if any."""
        return self.ca_cert + self.previous_ca_cert

    def to_json(self) -> dict[str, str]:
        return {f.name: base64.b64encode(getattr(self, f.name)).decode() for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CertBundle:
        return cls(**{f.name: base64.b64decode(data.get(f.name) or "") for f in fields(cls)})
