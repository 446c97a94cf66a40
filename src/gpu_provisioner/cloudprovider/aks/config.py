"""Where the AKS cluster is and how hard to try: from environment variables (as upstream's chart sets
them) or command-line flags, flags winning."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from gpu_provisioner.cloudprovider.api.errors import InvalidRequestError
from gpu_provisioner.cloudprovider.retry import RetrySettings

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"

# flag dest -> environment variables, first set wins (upstream names first).
_ENV: dict[str, tuple[str, ...]] = {
    "subscription_id": ("ARM_SUBSCRIPTION_ID", "AZURE_SUBSCRIPTION_ID"),
    "resource_group": ("ARM_RESOURCE_GROUP", "AZURE_RESOURCE_GROUP"),
    "cluster_name": ("AZURE_CLUSTER_NAME",),
    "node_resource_group": ("AZURE_NODE_RESOURCE_GROUP",),
    "location": ("LOCATION", "AZURE_LOCATION"),
    "arm_endpoint": ("ARM_ENDPOINT", "AZURE_RESOURCE_MANAGER_ENDPOINT"),
    "ca_bundle": ("ARM_CA_BUNDLE",),
}


@dataclass(frozen=True, slots=True)
class AKSConfig:
    subscription_id: str
    resource_group: str
    cluster_name: str
    location: str = ""
    # None: read once from the managed cluster (GET managedClusters/<name>).
    node_resource_group: str | None = None
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT
    # A PEM file trusted for the ARM endpoint; only tests (the emulator's self-signed cert) need it.
    ca_bundle: str | None = None
    # LRO polling interval when ARM sends no Retry-After. Upstream's Go SDK default is 30 s.
    polling_interval_s: float = 10.0
    # Azure SDK pipeline retries per HTTP request (each bounded and counted, layer="sdk").
    sdk_retries: int = 3
    sdk_backoff_factor_s: float = 0.8
    sdk_backoff_max_s: float = 30.0
    # Retries of a whole step (GET-then-PUT, wait, DELETE) on a retryable error (layer="operation").
    retry: RetrySettings = field(default_factory=RetrySettings)
    # Upper bound for one create or delete, LRO included.
    operation_timeout_s: float = 1800.0
    # How long to wait after a pool reports Succeeded for its scale-set VM to be listed.
    vm_lookup_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        missing = [n for n in ("subscription_id", "resource_group", "cluster_name") if not getattr(self, n)]
        if missing:
            env = ", ".join("/".join(_ENV[n]) for n in missing)
            raise InvalidRequestError(f"AKS provider is missing {', '.join(missing)} (set {env})")

    @property
    def credential_scope(self) -> str:
        return self.arm_endpoint.rstrip("/") + "/.default"

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> AKSConfig:
        values: dict[str, object] = {}
        for dest, names in _ENV.items():
            for name in names:
                if env.get(name):
                    values[dest] = env[name]
                    break
        values.update({k: v for k, v in overrides.items() if v is not None})
        values.setdefault("subscription_id", "")
        values.setdefault("resource_group", "")
        values.setdefault("cluster_name", "")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("AKS cloud provider (flags override environment variables)")
        for dest, names in _ENV.items():
            group.add_argument(
                "--azure-" + dest.replace("_", "-"),
                dest=f"azure_{dest}",
                default=None,
                help=f"env {'/'.join(names)}",
            )
        group.add_argument(
            "--azure-polling-interval", dest="azure_polling_interval_s", type=float, default=None
        )
        group.add_argument("--azure-sdk-retries", dest="azure_sdk_retries", type=int, default=None)
        group.add_argument(
            "--azure-operation-timeout", dest="azure_operation_timeout_s", type=float, default=None
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str]) -> AKSConfig:
        overrides = {
            k.removeprefix("azure_"): v
            for k, v in vars(args).items()
            if k.startswith("azure_") and v is not None
        }
        return cls.from_env(env, **overrides)
