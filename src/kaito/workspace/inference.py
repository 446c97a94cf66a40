"""The inference objects of a Workspace: its Service and a Deployment of ``resource.count`` independent
replicas, each holding the whole model on one node.

Multi-node inference (one model sharded over several nodes) is not supported: an earlier version ran
such presets as a StatefulSet behind a headless Service, which the reconciler still deletes."""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kaito.api.constants import ANNOTATION_ENABLE_LB, LABEL_WORKSPACE, LABEL_WORKSPACE_NAMESPACE
from kaito.api.views import as_workspace
from kaito.runtime.objects import Obj, annotations_of, name_of, namespace_of, owner_reference
from kaito.workspace.kinds import WORKSPACE
from kaito.workspace.names import (
    ANNOTATION_CONFIG_HASH,
    ANNOTATION_REVISION,
    INFERENCE_PORT,
    MOUNT_ADAPTER,
    MOUNT_CONFIG,
)
from kaito.workspace.podspec import (
    gpu_resources,
    merge_affinity,
    node_affinity,
    pull_secrets,
    restricted,
    scratch_volume,
    shm_volume,
    stamp_hash,
    tolerations,
)
from kaito.workspace.presets import PresetWorkload, RuntimeChoice

INFERENCE_CONFIG_FILE = "inference_config.yaml"
# The preset server's backend setting (presets/workspace/inference/settings.py): transformers or vllm.
BACKEND_ENV = "INFERENCE_BACKEND"


def legacy_headless_name(workspace: Mapping[str, Any]) -> str:
    """The headless Service of the StatefulSet that older versions made for multi-node presets."""
    return f"{name_of(workspace)}-headless"


def selector_labels(workspace: Mapping[str, Any]) -> dict[str, str]:
    return {LABEL_WORKSPACE: name_of(workspace)}


def pod_labels(workspace: Mapping[str, Any]) -> dict[str, str]:
    return {LABEL_WORKSPACE: name_of(workspace), LABEL_WORKSPACE_NAMESPACE: namespace_of(workspace)}


def _metadata(workspace: Mapping[str, Any], name: str) -> Obj:
    return {
        "name": name,
        "namespace": namespace_of(workspace),
        "labels": selector_labels(workspace),
        "ownerReferences": [owner_reference(WORKSPACE, workspace)],
    }


def wants_load_balancer(workspace: Mapping[str, Any]) -> bool:
    """Whether the Workspace asks for a public LoadBalancer (``kaito.sh/enablelb: "True"``)."""
    return annotations_of(workspace).get(ANNOTATION_ENABLE_LB) == "True"


def service_manifest(workspace: Mapping[str, Any], allow_load_balancer: bool = False) -> Obj:
    """``<ws>``: ``http`` 80→5000 over every replica; LoadBalancer when ``kaito.sh/enablelb: "True"`` and
    the operator allows public load balancers (``allow_load_balancer``), else ClusterIP."""
    public = allow_load_balancer and wants_load_balancer(workspace)
    spec: Obj = {
        "type": "LoadBalancer" if public else "ClusterIP",
        "selector": selector_labels(workspace),
        "ports": [{"name": "http", "port": 80, "targetPort": INFERENCE_PORT, "protocol": "TCP"}],
        "publishNotReadyAddresses": True,
    }
    return stamp_hash(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(workspace, name_of(workspace)),
            "spec": spec,
        }
    )


@dataclass(frozen=True)
class InferenceInputs:
    """Everything besides the Workspace that shapes the pods: the catalog entry, where images come from,
    the chosen nodes, the hash of the mounted config (a change rolls the pods) and the serving runtime
    (None: the catalog's)."""

    preset: PresetWorkload | None
    registry: str
    worker_nodes: Sequence[str]
    runtime: RuntimeChoice | None = None
    config_hash: str = ""
    revision: str = ""
    extra_tolerations: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    config_env: Mapping[str, str] = field(default_factory=dict)


def _image_and_secrets(
    workspace: Mapping[str, Any], preset: PresetWorkload, registry: str
) -> tuple[str, list[str]]:
    spec = as_workspace(workspace).get("inference", {}).get("preset", {})
    options = spec.get("presetOptions", {})
    if spec.get("accessMode") == "private" or options.get("image"):
        return options.get("image") or preset.image(registry), list(options.get("imagePullSecrets", []))
    return preset.image(registry), []


def _adapters(workspace: Mapping[str, Any]) -> tuple[list[Obj], list[Obj], list[str]]:
    """One init container per adapter copying the image's ``/data`` into ``/mnt/adapter/<name>``, the env
    vars carrying each strength, and the adapters' pull secrets."""
    init: list[Obj] = []
    env: list[Obj] = []
    secrets: list[str] = []
    for adapter in as_workspace(workspace).get("inference", {}).get("adapters", []):
        source = adapter.get("source", {})
        name = source.get("name", "")
        if not name or not source.get("image"):
            continue
        target = f"{MOUNT_ADAPTER}/{name}"
        init.append(
            {
                "name": name,
                "image": source["image"],
                "imagePullPolicy": "Always",
                "command": [
                    "/bin/sh",
                    "-c",
                    f"mkdir -p {shlex.quote(target)} && cp -r /data/. {shlex.quote(target)}/",
                ],
                "volumeMounts": [{"name": "adapter-volume", "mountPath": MOUNT_ADAPTER}],
            }
        )
        env.append({"name": name, "value": str(adapter.get("strength") or "1.0")})
        secrets.extend(source.get("imagePullSecrets") or [])
    return init, env, secrets


def _probes(preset: PresetWorkload) -> Obj:
    http = {"path": preset.health_path, "port": INFERENCE_PORT, "scheme": "HTTP"}
    return {
        # Loading weights can take many minutes; the startup probe holds liveness off until then.
        "startupProbe": {
            "httpGet": dict(http),
            "periodSeconds": 10,
            "failureThreshold": max(1, preset.readiness_timeout_seconds // 10),
        },
        "livenessProbe": {"httpGet": dict(http), "periodSeconds": 10, "failureThreshold": 3},
        "readinessProbe": {"httpGet": dict(http), "periodSeconds": 10, "failureThreshold": 3},
    }


def preset_pod_template(workspace: Mapping[str, Any], inputs: InferenceInputs) -> Obj:
    preset = inputs.preset
    if preset is None:
        raise ValueError("a preset workload needs its catalog entry")
    image, secrets = _image_and_secrets(workspace, preset, inputs.registry)
    adapter_init, adapter_env, adapter_secrets = _adapters(workspace)
    shm, shm_mount = shm_volume()
    volumes: list[Obj] = [shm]
    mounts: list[Obj] = [shm_mount]
    env: list[Obj] = [{"name": k, "value": v} for k, v in sorted(preset.inference_env.items())]
    backend = inputs.runtime.backend if inputs.runtime is not None else preset.runtime
    env.append({"name": BACKEND_ENV, "value": backend})
    env.append({"name": "PORT", "value": str(INFERENCE_PORT)})
    config_name = as_workspace(workspace).get("inference", {}).get("config")
    if config_name:
        volumes.append({"name": "config-volume", "configMap": {"name": config_name}})
        mounts.append({"name": "config-volume", "mountPath": MOUNT_CONFIG})
        env.append({"name": "INFERENCE_CONFIG_FILE", "value": f"{MOUNT_CONFIG}/{INFERENCE_CONFIG_FILE}"})
        env.extend({"name": k, "value": v} for k, v in sorted(inputs.config_env.items()))
    if adapter_init:
        volumes.append(scratch_volume("adapter-volume"))
        mounts.append({"name": "adapter-volume", "mountPath": MOUNT_ADAPTER})
        env.append({"name": "ADAPTERS_DIR", "value": MOUNT_ADAPTER})
        env.extend(adapter_env)
    container: Obj = {
        "name": name_of(workspace),
        "image": image,
        "command": [*preset.inference_command, *preset.inference_args],
        "env": env,
        "ports": [{"name": "http", "containerPort": INFERENCE_PORT, "protocol": "TCP"}],
        "resources": gpu_resources(preset.gpu_count),
        "volumeMounts": mounts,
        **_probes(preset),
    }
    pod_spec: Obj = {
        "containers": [container],
        "volumes": volumes,
        "tolerations": tolerations(inputs.extra_tolerations),
    }
    if adapter_init:
        pod_spec["initContainers"] = adapter_init
    affinity = node_affinity(workspace, inputs.worker_nodes)
    if affinity:
        pod_spec["affinity"] = affinity
    all_secrets = pull_secrets([*secrets, *adapter_secrets])
    if all_secrets:
        pod_spec["imagePullSecrets"] = all_secrets
    return {"metadata": _template_metadata(workspace, inputs), "spec": restricted(pod_spec)}


def _template_metadata(workspace: Mapping[str, Any], inputs: InferenceInputs) -> Obj:
    metadata: Obj = {"labels": pod_labels(workspace)}
    if inputs.config_hash:
        metadata["annotations"] = {ANNOTATION_CONFIG_HASH: inputs.config_hash}
    return metadata


def user_pod_template(workspace: Mapping[str, Any], inputs: InferenceInputs) -> Obj:
    """A ``template`` workspace runs the user's pod template as given; KAITO only adds its labels (the
    Deployment selects on them), the GPU-node affinity and tolerations."""
    template = copy.deepcopy(as_workspace(workspace).get("inference", {}).get("template", {}))
    metadata = template.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **pod_labels(workspace)}
    spec = template.setdefault("spec", {})
    existing = list(spec.get("tolerations") or [])
    spec["tolerations"] = existing + [t for t in tolerations(inputs.extra_tolerations) if t not in existing]
    affinity = merge_affinity(spec.get("affinity"), node_affinity(workspace, inputs.worker_nodes))
    if affinity:
        spec["affinity"] = affinity
    return template


def workload_manifest(workspace: Mapping[str, Any], inputs: InferenceInputs) -> Obj:
    """The Deployment, with the manifest hash stamped."""
    count = as_workspace(workspace).get("resource", {}).get("count", 1)
    template_spec = as_workspace(workspace).get("inference", {}).get("template")
    template = (
        user_pod_template(workspace, inputs) if template_spec else preset_pod_template(workspace, inputs)
    )
    metadata = _metadata(workspace, name_of(workspace))
    if inputs.revision:
        metadata["annotations"] = {ANNOTATION_REVISION: inputs.revision}
    spec: Obj = {
        "replicas": count,
        "selector": {"matchLabels": selector_labels(workspace)},
        "template": template,
        # Each pod holds a whole GPU node: a surge pod would wait for a free GPU forever, so roll one
        # pod down before its replacement comes up.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
    }
    return stamp_hash({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec})


def config_env(config_map: Mapping[str, Any]) -> dict[str, str]:
    """Server settings from ``inference_config.yaml``: its ``vllm:`` section becomes ``VLLM_ENGINE_ARGS``
    (the preset server's contract). A malformed file is the webhook's to reject; here it adds nothing."""
    text = (config_map.get("data") or {}).get(INFERENCE_CONFIG_FILE)
    if not text:
        return {}
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    vllm = parsed.get("vllm") if isinstance(parsed, dict) else None
    if not isinstance(vllm, dict) or not vllm:
        return {}
    return {"VLLM_ENGINE_ARGS": json.dumps(vllm, sort_keys=True, default=str)}
