"""The validating admission webhook for Workspaces: an aiohttp HTTPS server.

It owns its TLS: on start it loads (or creates) its CA and serving certificate from a Secret,
writes the CA into the ValidatingWebhookConfiguration, and then keeps both in step, renewing the
certificate before it expires without a restart. It is a self-contained runnable (``start`` /
``stop`` or ``run(stop_event)``) that needs no leader election: every replica may serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from kaito.api import KAITO_GROUP, WORKSPACE_KIND
from kaito.catalog import Catalog
from kaito.egress import EgressPolicy
from kaito.runtime.client import Client
from kaito.runtime.client.kinds import CONFIGMAP
from kaito.webhook import cert_tool
from kaito.webhook.admission import AdmissionReview, review_response
from kaito.webhook.authz import Authorizer
from kaito.webhook.bundle import ROTATE_BEFORE, SERVING_VALIDITY, CertBundle
from kaito.webhook.cert_store import SecretCertStore
from kaito.webhook.configuration import (
    CONFIGURATION_NAME,
    WEBHOOK_PATH,
    ServiceRef,
    client_config,
    ensure_configuration,
)
from kaito.webhook.metrics import WebhookMetrics
from kaito.webhook.validator import WorkspaceValidator

log = structlog.get_logger(__name__)

DEFAULT_PORT = 9443
DEFAULT_SECRET = "workspace-webhook-cert"
HEALTH_PATH = "/healthz"


@dataclass
class WebhookConfig:
    """How the webhook is served and found.

    Give ``service`` in a cluster, or ``url`` (may contain ``{port}``) when the apiserver reaches
    the webhook directly, as in the local test cluster.
    """

    namespace: str
    port: int = DEFAULT_PORT
    bind_host: str = "0.0.0.0"
    secret_name: str = DEFAULT_SECRET
    service: ServiceRef | None = None
    url: str | None = None
    cert_hosts: list[str] = field(default_factory=list)
    configuration_name: str = CONFIGURATION_NAME
    # True: create/replace the whole configuration; False: only update caBundle of an installed one.
    manage_configuration: bool = True
    rotation_check_interval: float = 3600.0
    validity: timedelta = SERVING_VALIDITY
    rotate_before: timedelta = ROTATE_BEFORE
    # The operator's egress allow-list (--egress-allow), judged at admission as the data movers judge it.
    egress: EgressPolicy = field(default_factory=EgressPolicy)

    @classmethod
    def from_env(cls, namespace: str | None = None) -> WebhookConfig:
        """``WEBHOOK_PORT``, ``WEBHOOK_SERVICE``, ``WEBHOOK_SECRET``, ``SYSTEM_NAMESPACE`` as upstream.

        ``WEBHOOK_URL`` (may contain ``{port}``) serves by URL instead of the Service, for an apiserver
        on the same host as the controller (the local cluster)."""
        ns = namespace or os.environ.get("SYSTEM_NAMESPACE", "kaito-system")
        port = int(os.environ.get("WEBHOOK_PORT", str(DEFAULT_PORT)))
        url = os.environ.get("WEBHOOK_URL") or None
        service = ServiceRef(namespace=ns, name=os.environ.get("WEBHOOK_SERVICE", "kaito-workspace-webhook"))
        return cls(
            namespace=ns,
            port=port,
            secret_name=os.environ.get("WEBHOOK_SECRET", DEFAULT_SECRET),
            service=None if url else service,
            url=url,
            # In a cluster the manifests install the configuration and its operator may tune it (timeouts,
            # selectors): a replica restart changes only the caBundle. Served by URL (the local apiserver)
            # nothing else installs it.
            manage_configuration=os.environ.get(
                "WEBHOOK_MANAGE_CONFIGURATION", "true" if url else "false"
            ).lower()
            == "true",
        )

    def hosts(self) -> list[str]:
        """Names the serving certificate covers."""
        if self.cert_hosts:
            return self.cert_hosts
        if self.service is not None:
            return self.service.hosts
        return ["127.0.0.1", "localhost"]


def _config_map_reader(client: Client) -> Any:
    async def read(namespace: str, name: str) -> Mapping[str, str] | None:
        config_map = await client.get_or_none(CONFIGMAP, namespace, name)
        if config_map is None:
            return None
        data: dict[str, str] = config_map.get("data") or {}
        return data

    return read


class WebhookServer:
    """Serves ``POST /validate-workspace`` (AdmissionReview v1) and ``GET /healthz`` over HTTPS."""

    def __init__(
        self,
        client: Client,
        catalog: Catalog,
        config: WebhookConfig,
        validator: WorkspaceValidator | None = None,
        metrics: WebhookMetrics | None = None,
    ) -> None:
        """``client``: the manager's (one connection, counted in its metrics). ``metrics``: pass the
        manager's registry's; without it the server keeps its own."""
        self._client = client
        self._metrics = metrics or WebhookMetrics(CollectorRegistry())
        self._config = config
        self._validator = validator or WorkspaceValidator(
            catalog, _config_map_reader(client), config.egress, authorizer=Authorizer(client)
        )
        self._store = SecretCertStore(
            client,
            config.namespace,
            config.secret_name,
            config.hosts(),
            validity=config.validity,
            rotate_before=config.rotate_before,
        )
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        self._bundle: CertBundle | None = None
        self._runner: web.AppRunner | None = None
        self._serving = False
        self._rotation: asyncio.Task[None] | None = None
        self._port: int | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        if self._port is None:
            raise RuntimeError("webhook server not started")
        return self._port

    @property
    def ca_bundle(self) -> bytes:
        """The PEM CA bundle clients must trust."""
        if self._bundle is None:
            raise RuntimeError("webhook server not started")
        return self._bundle.ca_bundle

    @property
    def url(self) -> str:
        """The URL written into the configuration when serving by URL."""
        template = self._config.url or f"https://127.0.0.1:{{port}}{WEBHOOK_PATH}"
        return template.format(port=self.port)

    async def start(self) -> None:
        """Get certificates, start serving, then point the configuration at us."""
        bundle = await self._store.ensure()
        await self._load(bundle)
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, self._config.bind_host, self._config.port, ssl_context=self._ssl)
            await site.start()
            sockets = getattr(site._server, "sockets", None) or []
            self._port = sockets[0].getsockname()[1] if sockets else self._config.port
            await self._sync_configuration()
        except BaseException:
            # Do not leave a half-started listener behind: the caller will retry or exit.
            await self._runner.cleanup()
            self._runner = None
            raise
        self._rotation = asyncio.create_task(self._rotate_forever(), name="webhook-cert-rotation")
        self._serving = True
        log.info("webhook serving", port=self._port, path=WEBHOOK_PATH, hosts=self._config.hosts())

    @property
    def serving(self) -> bool:
        """True from the moment the TLS listener answers with a certificate the configuration trusts
        until :meth:`stop`: the replica's readiness, so its Service only routes admission reviews to a
        replica that can answer them."""
        return self._serving

    def app(self) -> web.Application:
        """The aiohttp application (routes only, no TLS): served by ``start``, usable in tests."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(WEBHOOK_PATH, self._handle)
        app.router.add_get(HEALTH_PATH, self._health)
        return app

    async def stop(self) -> None:
        """Stop serving. The configuration stays: with failurePolicy Fail, Workspace writes are
        refused until a replica serves again, which is the point."""
        self._serving = False
        if self._rotation is not None:
            self._rotation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rotation
            self._rotation = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("webhook stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set (the manager's runnable shape)."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def check_rotation(self) -> bool:
        """Renew the certificate if due (or adopt a newer one from the Secret); True if it changed."""
        bundle = await self._store.ensure()
        if self._bundle is not None and bundle == self._bundle:
            return False
        await self._load(bundle)
        await self._sync_configuration()
        log.info("webhook certificate rotated")
        return True

    # --- internals ---------------------------------------------------------------------------------

    async def _load(self, bundle: CertBundle) -> None:
        # load_cert_chain only reads files; keep them in a private temp dir just long enough.
        def load() -> None:
            with tempfile.TemporaryDirectory(prefix="kaito-webhook-") as tmp:
                cert_path = os.path.join(tmp, "tls.crt")
                key_path = os.path.join(tmp, "tls.key")
                with open(cert_path, "wb") as f:
                    f.write(bundle.cert + bundle.ca_cert)
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(bundle.key)
                # New handshakes use the new chain; open connections keep theirs.
                self._ssl.load_cert_chain(cert_path, key_path)

        await asyncio.to_thread(load)
        self._bundle = bundle
        self._metrics.certificate_expiry.set((await cert_tool.expires_at(bundle)).timestamp())

    async def _sync_configuration(self) -> None:
        assert self._bundle is not None
        client = None
        if self._config.manage_configuration:
            if self._config.service is not None and self._config.url is None:
                client = client_config(service=self._config.service)
            else:
                client = client_config(url=self.url)
        await ensure_configuration(
            self._client,
            self._bundle.ca_bundle,
            client=client,
            name=self._config.configuration_name,
            namespace=self._config.namespace,
        )

    async def _rotate_forever(self) -> None:
        while True:
            await asyncio.sleep(self._config.rotation_check_interval)
            try:
                await self.check_rotation()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The current certificate is still valid for weeks; try again next round.
                log.warning("webhook certificate rotation check failed", error=str(exc))

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            review = AdmissionReview.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return web.json_response({"error": f"not an AdmissionReview v1: {exc}"}, status=400)
        req = review.request
        if req.kind.group != KAITO_GROUP or req.kind.kind != WORKSPACE_KIND or req.object is None:
            return web.json_response(review_response(req.uid, True))
        if req.operation not in ("CREATE", "UPDATE"):
            return web.json_response(review_response(req.uid, True))
        old = req.old_object if req.operation == "UPDATE" else None
        obj = dict(req.object)
        # The namespace of a new object may only be on the request.
        metadata = dict(obj.get("metadata") or {})
        metadata.setdefault("namespace", req.namespace)
        obj["metadata"] = metadata
        try:
            with self._metrics.admission_duration.time():
                verdict = await self._validator.validate(obj, old, user=req.user_info)
        except Exception as exc:
            self._metrics.admission_requests.labels(operation=req.operation, allowed="error").inc()
            log.exception("workspace validation crashed", namespace=req.namespace, name=req.name)
            return web.json_response(
                review_response(req.uid, False, f"internal error while validating the Workspace: {exc}")
            )
        self._metrics.admission_requests.labels(
            operation=req.operation, allowed=str(verdict.allowed).lower()
        ).inc()
        if verdict.allowed:
            return web.json_response(review_response(req.uid, True, warnings=verdict.warnings))
        log.info(
            "workspace denied",
            namespace=req.namespace,
            name=req.name,
            operation=req.operation,
            errors=verdict.errors,
        )
        message = "; ".join(verdict.errors)
        return web.json_response(review_response(req.uid, False, message, verdict.warnings))
