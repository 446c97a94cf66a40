"""Keep the webhook's CertBundle in a Secret so restarts and replicas reuse one CA."""

from __future__ import annotations

import base64
from datetime import timedelta

import structlog

from kaito.runtime.client import AlreadyExistsError, Client
from kaito.runtime.client.kinds import SECRET
from kaito.runtime.objects import Obj
from kaito.webhook import cert_tool
from kaito.webhook.bundle import ROTATE_BEFORE, SERVING_VALIDITY, CertBundle

log = structlog.get_logger(__name__)

_KEYS = {
    "ca_cert": "ca.crt",
    "ca_key": "ca.key",
    "cert": "tls.crt",
    "key": "tls.key",
    "previous_ca_cert": "ca-previous.crt",
}


def _decode(data: dict[str, str] | None) -> CertBundle | None:
    if not data:
        return None
    try:
        values = {f: base64.b64decode(data.get(k, "")) for f, k in _KEYS.items()}
    except ValueError:
        return None
    if not all(values[f] for f in ("ca_cert", "ca_key", "cert", "key")):
        return None
    return CertBundle(**values)


def _encode(bundle: CertBundle) -> dict[str, str]:
    out = {k: base64.b64encode(getattr(bundle, f)).decode() for f, k in _KEYS.items()}
    return {k: v for k, v in out.items() if v}


class SecretCertStore:
    """Loads, renews and saves the webhook certificates in ``<namespace>/<name>``."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        name: str,
        hosts: list[str],
        *,
        validity: timedelta = SERVING_VALIDITY,
        rotate_before: timedelta = ROTATE_BEFORE,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.name = name
        self.hosts = hosts
        self.validity = validity
        self.rotate_before = rotate_before

    async def ensure(self) -> CertBundle:
        """The current bundle, creating or renewing it in the Secret when needed.

        Two replicas starting together may both try to write the Secret; the loser of that race
        (409) re-reads and adopts the winner's bundle, so everyone serves from one CA.
        """
        # Twice at most: another replica may create the Secret between our read and our create.
        for _ in range(2):
            stored = await self._renew_stored()
            if stored is not None:
                return stored
            replacement = await self._renew(None)
            assert replacement is not None
            try:
                await self._client.create(SECRET, self._secret(replacement))
            except AlreadyExistsError:
                log.info("webhook cert secret created underneath us; re-reading", secret=self.name)
                continue
            self._log_issued(None, replacement)
            return replacement
        raise RuntimeError(f"could not settle webhook certificate Secret {self.namespace}/{self.name}")

    async def _renew_stored(self) -> CertBundle | None:
        """The Secret's bundle, renewed in place if due; None if there is no Secret. A conflicting
        writer makes :meth:`Client.modify` re-read, so the winner's fresh bundle is adopted, not replaced."""
        issued: list[tuple[CertBundle | None, CertBundle]] = []

        async def renew_in(secret: Obj) -> None:
            issued.clear()  # only the attempt that was written counts
            current = _decode(secret.get("data"))
            replacement = await self._renew(current)
            if replacement is not None:
                secret["data"] = _encode(replacement)
                issued.append((current, replacement))

        stored = await self._client.modify(SECRET, self.namespace, self.name, renew_in)
        if stored is None:
            return None
        bundle = _decode(stored.get("data"))
        if bundle is None:
            raise RuntimeError(f"webhook certificate Secret {self.namespace}/{self.name} is unreadable")
        if issued:
            self._log_issued(*issued[-1])
        return bundle

    async def _renew(self, current: CertBundle | None) -> CertBundle | None:
        # Key generation and signing: in a short-lived process, off the event loop and out of this
        # process's memory.
        return await cert_tool.renew(
            current,
            self.hosts,
            validity=self.validity,
            ca_validity=max(self.validity * 10, timedelta(days=3650)),
            rotate_before=self.rotate_before,
        )

    def _log_issued(self, current: CertBundle | None, replacement: CertBundle) -> None:
        log.info(
            "webhook certificate issued",
            secret=f"{self.namespace}/{self.name}",
            new_ca=current is None or current.ca_cert != replacement.ca_cert,
            hosts=self.hosts,
        )

    def _secret(self, bundle: CertBundle) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/part-of": "kaito", "app.kubernetes.io/component": "webhook"},
            },
            "type": "kubernetes.io/tls",
            "data": _encode(bundle),
        }
