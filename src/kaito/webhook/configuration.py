"""The ValidatingWebhookConfiguration for Workspaces, and keeping its caBundle in step.

failurePolicy is Fail: a Workspace admitted without the catalog checks could ask for a preset
that does not exist or a GPU too small for it, and would only fail after a GPU node had been
bought. The rules match only ``kaito.sh/v1alpha1 workspaces`` (not ``workspaces/status``), so
while the webhook is down only Workspace creates and spec updates are refused; every other
object, Workspace deletion and the controller's status writes keep working.

Where the apiserver reaches the webhook:
* in a cluster, a Service reference (``clientConfig.service``: namespace, name, port, path), with
  the serving certificate issued for ``<service>.<namespace>.svc``;
* in the local test cluster, whose apiserver runs on the same host, a URL such as
  ``https://127.0.0.1:<port>/validate-workspace`` with the certificate issued for 127.0.0.1.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import structlog

from kaito.api import KAITO_GROUP, WORKSPACE_PLURAL, WORKSPACE_VERSION
from kaito.runtime.client import AlreadyExistsError, Client
from kaito.runtime.client.kinds import VALIDATING_WEBHOOK_CONFIGURATION
from kaito.runtime.objects import Obj, resource_version_of

log = structlog.get_logger(__name__)

WEBHOOK_NAME = "validation.workspace.kaito.sh"
CONFIGURATION_NAME = "validation.workspace.kaito.sh"
WEBHOOK_PATH = "/validate-workspace"
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class ServiceRef:
    """An in-cluster Service fronting the webhook."""

    namespace: str
    name: str
    port: int = 443
    path: str = WEBHOOK_PATH

    @property
    def hosts(self) -> list[str]:
        """The DNS names the serving certificate must cover."""
        base = f"{self.name}.{self.namespace}"
        return [f"{base}.svc", self.name, base, f"{base}.svc.cluster.local"]


def client_config(*, url: str | None = None, service: ServiceRef | None = None) -> dict[str, Any]:
    """A webhook clientConfig (without caBundle) for exactly one of ``url`` or ``service``."""
    if (url is None) == (service is None):
        raise ValueError("give exactly one of url or service")
    if url is not None:
        return {"url": url}
    assert service is not None
    return {
        "service": {
            "namespace": service.namespace,
            "name": service.name,
            "port": service.port,
            "path": service.path,
        }
    }


CONTROLLER_SERVICE_ACCOUNT = "kaito-workspace-controller"


def match_conditions(namespace: str) -> list[dict[str, str]]:
    """Requests the webhook never sees, so that an outage cannot wedge deletion: writes to a Workspace
    that is being deleted (the finalizer's removal), and the workspace controller's own writes (its
    finalizer and revision annotation; it never changes what the webhook validates)."""
    user = f"system:serviceaccount:{namespace}:{CONTROLLER_SERVICE_ACCOUNT}"
    return [
        {"name": "not-being-deleted", "expression": "!has(object.metadata.deletionTimestamp)"},
        {"name": "not-the-controller", "expression": f"request.userInfo.username != '{user}'"},
    ]


def webhook_configuration(
    ca_bundle: bytes, client: dict[str, Any], name: str = CONFIGURATION_NAME, namespace: str = "kaito-system"
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration manifest; ``namespace`` is where the controller runs."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "kaito"}},
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                # See the module docstring: Fail, but scoped to workspaces only.
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "timeoutSeconds": TIMEOUT_SECONDS,
                "matchConditions": match_conditions(namespace),
                "clientConfig": {**client, "caBundle": base64.b64encode(ca_bundle).decode()},
                "rules": [
                    {
                        "apiGroups": [KAITO_GROUP],
                        "apiVersions": [WORKSPACE_VERSION],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [WORKSPACE_PLURAL],
                        "scope": "Namespaced",
                    }
                ],
            }
        ],
    }


async def ensure_configuration(
    kube: Client,
    ca_bundle: bytes,
    *,
    client: dict[str, Any] | None = None,
    name: str = CONFIGURATION_NAME,
    namespace: str = "kaito-system",
) -> None:
    """Make the configuration trust ``ca_bundle``.

    With ``client`` the whole configuration is created or replaced (the test cluster, or a
    controller that owns its configuration); without it the configuration must already exist
    (installed by the chart) and only each webhook's caBundle is updated.
    """
    encoded = base64.b64encode(ca_bundle).decode()
    desired = webhook_configuration(ca_bundle, client, name, namespace) if client is not None else None

    def trust(existing: Obj) -> Obj | None:
        if desired is not None:
            version = resource_version_of(existing)
            return {**desired, "metadata": {**desired["metadata"], "resourceVersion": version}}
        for webhook in existing.get("webhooks") or []:
            webhook.setdefault("clientConfig", {})["caBundle"] = encoded
        return None

    # Twice at most: another replica may create the configuration between our read and our create.
    for _ in range(2):
        if await kube.modify(VALIDATING_WEBHOOK_CONFIGURATION, None, name, trust) is not None:
            log.info("webhook configuration updated", configuration=name)
            return
        if desired is None:
            raise RuntimeError(f"ValidatingWebhookConfiguration {name} does not exist; install it first")
        try:
            await kube.create(VALIDATING_WEBHOOK_CONFIGURATION, desired)
        except AlreadyExistsError:
            continue
        log.info("webhook configuration created", configuration=name)
        return
    raise RuntimeError(f"could not update ValidatingWebhookConfiguration {name}: kept conflicting")


async def delete_configuration(kube: Client, name: str = CONFIGURATION_NAME) -> None:
    """Remove the configuration (tests and uninstall); a missing one is fine."""
    await kube.delete(VALIDATING_WEBHOOK_CONFIGURATION, None, name)
