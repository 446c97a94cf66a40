"""Keep the webhook's CertBundle in a Secret so restarts and replicas reuse one CA."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import structlog
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from kaito.webhook.certs import ROTATE_BEFORE, SERVING_VALIDITY, CertBundle, renew

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
        api: k8s.ApiClient,
        namespace: str,
        name: str,
        hosts: list[str],
        *,
        validity: timedelta = SERVING_VALIDITY,
        rotate_before: timedelta = ROTATE_BEFORE,
    ) -> None:
        self._core = k8s.CoreV1Api(api)
        self.namespace = namespace
        self.name = name
        self.hosts = hosts
        self.validity = validity
        self.rotate_before = rotate_before

    async def ensure(self) -> CertBundle:
        """The current bundle, creating or renewing it in the Secret when needed.

        Two replicas starting together may both try to create the Secret; the loser of that race
        (409) re-reads and adopts the winner's bundle, so everyone serves from one CA.
        """
        for _ in range(5):
            secret = await self._read()
            current = _decode(secret.data) if secret is not None else None
            # Key generation and signing are CPU work: keep them off the event loop.
            replacement = await asyncio.to_thread(
                renew,
                current,
                self.hosts,
                validity=self.validity,
                ca_validity=max(self.validity * 10, timedelta(days=3650)),
                rotate_before=self.rotate_before,
            )
            if replacement is None and current is not None:
                return current
            assert replacement is not None
            try:
                await self._write(secret, replacement)
            except ApiException as exc:
                if exc.status in (409, 422):
                    log.info("webhook cert secret changed underneath us; re-reading", secret=self.name)
                    continue
                raise
            log.info(
                "webhook certificate issued",
                secret=f"{self.namespace}/{self.name}",
                new_ca=current is None or current.ca_cert != replacement.ca_cert,
                hosts=self.hosts,
            )
            return replacement
        raise RuntimeError(f"could not settle webhook certificate Secret {self.namespace}/{self.name}")

    async def _read(self) -> k8s.V1Secret | None:
        try:
            secret: k8s.V1Secret = await self._core.read_namespaced_secret(self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return secret

    async def _write(self, existing: k8s.V1Secret | None, bundle: CertBundle) -> None:
        if existing is None:
            body = k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(
                    name=self.name,
                    namespace=self.namespace,
                    labels={"app.kubernetes.io/part-of": "kaito", "app.kubernetes.io/component": "webhook"},
                ),
                type="kubernetes.io/tls",
                data=_encode(bundle),
            )
            await self._core.create_namespaced_secret(self.namespace, body)
            return
        # Replace with the read resourceVersion: a concurrent writer makes this fail with 409.
        existing.data = _encode(bundle)
        await self._core.replace_namespaced_secret(self.name, self.namespace, existing)
