"""The validating admission webhook for Workspaces (catalog-aware checks the CRD's CEL cannot do)."""

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
