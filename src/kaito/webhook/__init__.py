"""The validating admission webhook for Workspaces (catalog-aware checks the CRD's CEL cannot do).

The names below are loaded on first use (PEP 562), not when the package is: the workspace controller
reads one helper of it (``tuning_config``) whether or not it serves the webhook, and the short-lived
certificate process (``python -m kaito.webhook.certs``) needs none of the server. Importing a submodule
loads only that submodule and what it imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kaito.webhook.admission import AdmissionRequest, AdmissionReview, review_response
    from kaito.webhook.bundle import CertBundle
    from kaito.webhook.cert_store import SecretCertStore
    from kaito.webhook.configuration import (
        CONFIGURATION_NAME,
        WEBHOOK_NAME,
        WEBHOOK_PATH,
        ServiceRef,
        client_config,
        delete_configuration,
        ensure_configuration,
        webhook_configuration,
    )
    from kaito.webhook.server import WebhookConfig, WebhookServer
    from kaito.webhook.tuning_config import check_training_config
    from kaito.webhook.urls import check_url
    from kaito.webhook.validator import ConfigMapReader, Verdict, WorkspaceValidator

_EXPORTS = {
    "AdmissionRequest": "admission",
    "AdmissionReview": "admission",
    "review_response": "admission",
    "CertBundle": "bundle",
    "SecretCertStore": "cert_store",
    "CONFIGURATION_NAME": "configuration",
    "WEBHOOK_NAME": "configuration",
    "WEBHOOK_PATH": "configuration",
    "ServiceRef": "configuration",
    "client_config": "configuration",
    "delete_configuration": "configuration",
    "ensure_configuration": "configuration",
    "webhook_configuration": "configuration",
    "WebhookConfig": "server",
    "WebhookServer": "server",
    "check_training_config": "tuning_config",
    "check_url": "urls",
    "ConfigMapReader": "validator",
    "Verdict": "validator",
    "WorkspaceValidator": "validator",
}

__all__ = [
    "CONFIGURATION_NAME",
    "WEBHOOK_NAME",
    "WEBHOOK_PATH",
    "AdmissionRequest",
    "AdmissionReview",
    "CertBundle",
    "ConfigMapReader",
    "SecretCertStore",
    "ServiceRef",
    "Verdict",
    "WebhookConfig",
    "WebhookServer",
    "WorkspaceValidator",
    "check_training_config",
    "check_url",
    "client_config",
    "delete_configuration",
    "ensure_configuration",
    "review_response",
    "webhook_configuration",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
