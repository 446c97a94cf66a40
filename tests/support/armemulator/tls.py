"""A throwaway CA and a server certificate for 127.0.0.1, so the Azure SDK's bearer-token policy
(HTTPS only) can talk to the emulator with real certificate verification."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from kaito.webhook.certs import make_bundle


@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        return ctx


def make_tls_files(directory: Path) -> TLSFiles:
    """A CA and a serving certificate for 127.0.0.1, made the same way the webhook makes its own."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = make_bundle(["127.0.0.1", "localhost"], ca_name="armemulator-ca", validity=timedelta(days=1))
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    files.ca_cert.write_bytes(bundle.ca_cert)
    files.server_cert.write_bytes(bundle.cert)
    files.server_key.write_bytes(bundle.key)
    return files
