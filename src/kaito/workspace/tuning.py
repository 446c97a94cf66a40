"""The tuning objects of a Workspace: its training-config ConfigMap and the one Job ``<ws>``.

The Job's pod: an init container brings the input into ``/mnt/data`` (download URLs, or copy ``/data``
out of an image, or mount a volume), the tuning container runs ``accelerate launch`` of the preset's
script, and the results land on a volume or are pushed as an OCI artifact by an unprivileged ``oras``
container that waits for the completion sentinel.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kaito.api.constants import TUNING_METHOD_QLORA
from kaito.api.views import as_workspace
from kaito.runtime.objects import Obj, get_path, name_of, namespace_of, owner_reference
from kaito.workspace.kinds import WORKSPACE
from kaito.workspace.names import (
    ANNOTATION_REVISION,
    ANNOTATION_SPEC_HASH,
    MOUNT_CONFIG,
    MOUNT_DATA,
    MOUNT_RESULTS,
)
from kaito.workspace.podspec import (
    gpu_resources,
    node_affinity,
    pull_secrets,
    restricted,
    scratch_volume,
    shm_volume,
    tolerations,
)
from kaito.workspace.presets import PresetWorkload

TRAINING_CONFIG_FILE = "training_config.yaml"
# The project's data movers (presets/workspace/datamovers): an SSRF-guarded downloader and an ORAS-style
# pusher that exits 1 on the trainer's failure sentinel.
DATAMOVERS_IMAGE_NAME = "kaito-datamovers"
DATAMOVERS_TAG = "0.1.0"
FAILED_SENTINEL = "fine_tuning_failed.txt"
PUSH_CONFIG_DIR = "/etc/kaito/push"
TUNING_CONTAINER = "tuning"
PUSHER_CONTAINER = "pusher"
DOWNLOADER_CONTAINER = "data-downloader"
DOWNLOAD_RETRIES = 5
# Retries for pods lost to causes the pod failure policy does not ignore (an image pull that gives up, a
# failed init container): enough for a flake, few enough that a broken Job stops holding a GPU node.
TUNING_BACKOFF_LIMIT = 3
# A run that has not finished in three days is stuck (a hung download, a pusher waiting on a registry that
# never answers): the Job fails, its pods go and the GPU node is released. Real fine-tuning runs of the
# catalog's presets take hours.
TUNING_DEADLINE_SECONDS = 3 * 24 * 3600


def default_config_template(method: str) -> str:
    return "qlora-params-template" if method == TUNING_METHOD_QLORA else "lora-params-template"


def config_copy_name(workspace: Mapping[str, Any]) -> str:
    return f"{name_of(workspace)}-tuning-config"


def config_copy_manifest(workspace: Mapping[str, Any], source: Mapping[str, Any]) -> Obj:
    """A copy of a default template from the release namespace, owned by the Workspace so it goes with it."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_copy_name(workspace),
            "namespace": namespace_of(workspace),
            "labels": {"kaito.sh/workspace": name_of(workspace)},
            "ownerReferences": [owner_reference(WORKSPACE, workspace)],
        },
        "data": dict(source.get("data") or {}),
    }


def output_dir(config_map: Mapping[str, Any] | None) -> str:
    """``TrainingArguments.output_dir`` from the training config; the webhook keeps it under ``/mnt``."""
    text = ((config_map or {}).get("data") or {}).get(TRAINING_CONFIG_FILE)
    if not text:
        return MOUNT_RESULTS
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return MOUNT_RESULTS
    # A malformed config is the webhook's to reject; here it just means the default directory.
    value = (
        get_path(parsed, "training_config", "TrainingArguments", "output_dir")
        if isinstance(parsed, dict)
        else None
    )
    if isinstance(value, str) and value.startswith("/mnt/") and ".." not in value:
        return value.rstrip("/")
    return MOUNT_RESULTS


@dataclass(frozen=True)
class TuningInputs:
    preset: PresetWorkload
    registry: str
    config_map_name: str
    results_dir: str
    worker_nodes: Sequence[str]
    gpus: int
    spec_hash: str
    revision: str = ""
    extra_tolerations: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    datamovers_image: str = ""
    # The operator's egress allow-list and plain-HTTP registries, which the data movers enforce.
    egress_allow: Sequence[str] = ()
    insecure_registries: Sequence[str] = ()

    def movers_image(self) -> str:
        if self.datamovers_image:
            return self.datamovers_image
        base = f"{DATAMOVERS_IMAGE_NAME}:{DATAMOVERS_TAG}"
        return f"{self.registry.rstrip('/')}/{base}" if self.registry else base


def _egress_env(inputs: TuningInputs) -> list[Obj]:
    return [{"name": "EGRESS_ALLOW", "value": ",".join(inputs.egress_allow)}] if inputs.egress_allow else []


def _input(workspace: Mapping[str, Any], inputs: TuningInputs) -> tuple[list[Obj], Obj, list[str]]:
    """Init containers that fill ``/mnt/data``, the data volume, and pull secrets for the input image."""
    source = as_workspace(workspace).get("tuning", {}).get("input", {})
    mount = {"name": "data-volume", "mountPath": MOUNT_DATA}
    if source.get("volumeSource"):
        return [], {"name": "data-volume", **source["volumeSource"]}, []
    volume = scratch_volume("data-volume")
    if source.get("urls"):
        downloader: Obj = {
            "name": DOWNLOADER_CONTAINER,
            "image": inputs.movers_image(),
            # One argument per URL: nothing re-splits a joined string, whatever a URL contains.
            "command": ["python", "-m", "datamovers.downloader", "--", *source["urls"]],
            "env": [
                {"name": "DATA_VOLUME_PATH", "value": MOUNT_DATA},
                {"name": "DOWNLOAD_RETRIES", "value": str(DOWNLOAD_RETRIES)},
                *_egress_env(inputs),
            ],
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [mount],
        }
        return [downloader], volume, []
    if source.get("image"):
        extractor: Obj = {
            "name": "data-extractor",
            "image": source["image"],
            "imagePullPolicy": "Always",
            "command": ["/bin/sh", "-c", f"cp -r /data/. {MOUNT_DATA}/"],
            "volumeMounts": [mount],
        }
        return [extractor], volume, list(source.get("imagePullSecrets") or [])
    return [], volume, []


def _pusher(image: str, secret: str, inputs: TuningInputs) -> tuple[Obj, Obj]:
    """The unprivileged pusher: waits for the completion sentinel (exits 1 on the failure sentinel), then
    pushes the adapter as an image (busybox + ``/data``) with the push secret's docker config, and says
    the pushed reference with its digest in its termination message. No docker-in-docker."""
    env: list[Obj] = [
        {"name": "OUTPUT_IMAGE", "value": image},
        {"name": "RESULTS_DIR", "value": inputs.results_dir},
        {"name": "MODEL_NAME", "value": inputs.preset.name},
        {"name": "DOCKER_CONFIG_FILE", "value": f"{PUSH_CONFIG_DIR}/config.json"},
        {"name": "PUSH_SECRET_NAME", "value": secret},
        {"name": "HOME", "value": "/tmp"},
        *_egress_env(inputs),
    ]
    if inputs.insecure_registries:
        env.append({"name": "INSECURE_REGISTRIES", "value": ",".join(inputs.insecure_registries)})
    container: Obj = {
        "name": PUSHER_CONTAINER,
        "image": inputs.movers_image(),
        "command": ["python", "-m", "datamovers.pusher"],
        "env": env,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "results-volume", "mountPath": inputs.results_dir, "readOnly": True},
            {"name": "push-secret", "mountPath": PUSH_CONFIG_DIR, "readOnly": True},
        ],
    }
    volume: Obj = {
        "name": "push-secret",
        # Optional: a Secret of another type (no .dockerconfigjson) would otherwise hold the pod in
        # ContainerCreating; the pusher says what is wrong with it instead, and the Job fails at once.
        "secret": {
            "secretName": secret,
            "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
            "optional": True,
        },
    }
    return container, volume


def job_manifest(workspace: Mapping[str, Any], inputs: TuningInputs) -> Obj:
    tuning = as_workspace(workspace).get("tuning", {})
    output = tuning.get("output", {})
    preset = inputs.preset
    init, data_volume, input_secrets = _input(workspace, inputs)
    shm, shm_mount = shm_volume()
    results_mount = {"name": "results-volume", "mountPath": inputs.results_dir}
    volumes: list[Obj] = [
        shm,
        {"name": "config-volume", "configMap": {"name": inputs.config_map_name}},
        data_volume,
    ]
    mounts: list[Obj] = [
        shm_mount,
        {"name": "config-volume", "mountPath": MOUNT_CONFIG},
        {"name": "data-volume", "mountPath": MOUNT_DATA},
        results_mount,
    ]
    launch = [
        "accelerate",
        "launch",
        f"--num_processes={max(1, inputs.gpus)}",
        preset.tuning_entrypoint,
    ]
    command_line = " ".join(shlex.quote(w) for w in launch)
    pushes = bool(output.get("image"))
    if pushes:
        # The trainer writes the failure sentinel itself, but not when it is killed (OOM, signal): then the
        # pusher would wait for a sentinel forever and the pod would never finish, so the shell writes it.
        failed = shlex.quote(f"{inputs.results_dir}/{FAILED_SENTINEL}")
        command_line = (
            f"{command_line}; rc=$?; "
            f'if [ "$rc" -ne 0 ] && [ ! -f {failed} ]; then echo "trainer exited $rc" > {failed}; fi; '
            "exit $rc"
        )
    env = [{"name": k, "value": v} for k, v in sorted(preset.tuning_env.items())]
    env += [
        {"name": "YAML_FILE_PATH", "value": f"{MOUNT_CONFIG}/{TRAINING_CONFIG_FILE}"},
        {"name": "DATA_DIR", "value": MOUNT_DATA},
        {"name": "OUTPUT_DIR", "value": inputs.results_dir},
        {"name": "PYTORCH_CUDA_ALLOC_CONF", "value": "expandable_segments:True"},
    ]
    trainer: Obj = {
        "name": TUNING_CONTAINER,
        "image": preset.image(inputs.registry),
        "command": ["/bin/sh", "-c", command_line],
        "env": env,
        # The trainer writes why it failed to /dev/termination-log; a crash leaves its last log lines.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": gpu_resources(inputs.gpus),
        "volumeMounts": mounts,
    }
    containers = [trainer]
    if pushes:
        secret = str(output.get("imagePushSecret") or "")
        pusher, secret_volume = _pusher(str(output["image"]), secret, inputs)
        containers.append(pusher)
        volumes.append(secret_volume)
        volumes.append(scratch_volume("results-volume"))
    elif output.get("volumeSource"):
        volumes.append({"name": "results-volume", **output["volumeSource"]})
    else:
        volumes.append(scratch_volume("results-volume"))
    labels = {
        "kaito.sh/workspace": name_of(workspace),
        "kaito.sh/workspacenamespace": namespace_of(workspace),
    }
    pod_spec: Obj = {
        "restartPolicy": "Never",
        "containers": containers,
        "volumes": volumes,
        "tolerations": tolerations(inputs.extra_tolerations),
    }
    if init:
        pod_spec["initContainers"] = init
    restricted(pod_spec)
    affinity = node_affinity(workspace, inputs.worker_nodes)
    if affinity:
        pod_spec["affinity"] = affinity
    secrets = pull_secrets(input_secrets)
    if secrets:
        pod_spec["imagePullSecrets"] = secrets
    present = {c["name"] for c in [*containers, *init]}
    annotations = {ANNOTATION_SPEC_HASH: inputs.spec_hash}
    if inputs.revision:
        annotations[ANNOTATION_REVISION] = inputs.revision
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name_of(workspace),
            "namespace": namespace_of(workspace),
            "labels": {"kaito.sh/workspace": name_of(workspace)},
            "annotations": annotations,
            "ownerReferences": [owner_reference(WORKSPACE, workspace)],
        },
        "spec": {
            "backoffLimit": TUNING_BACKOFF_LIMIT,
            "activeDeadlineSeconds": TUNING_DEADLINE_SECONDS,
            # A non-zero exit of the trainer is a bad config or data set: retrying cannot help. Evictions
            # and node loss are not the run's fault and are not counted.
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": TUNING_CONTAINER,
                            "operator": "NotIn",
                            "values": [0],
                        },
                    },
                    # The data movers retry what can pass by itself (network errors, 429, 5xx); what they
                    # give up on (a refused URL or push, bad credentials, a 404) would only fail again.
                    *(
                        {
                            "action": "FailJob",
                            "onExitCodes": {"containerName": mover, "operator": "NotIn", "values": [0]},
                        }
                        for mover in (DOWNLOADER_CONTAINER, PUSHER_CONTAINER)
                        # The apiserver refuses a rule naming a container the pod does not have.
                        if mover in present
                    ),
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def published_image(pods: Iterable[Mapping[str, Any]]) -> str | None:
    """The reference with digest that a tuning pod's pusher says it pushed (its termination message)."""
    for pod in pods:
        for status in get_path(pod, "status", "containerStatuses") or []:
            if status.get("name") != PUSHER_CONTAINER:
                continue
            terminated = get_path(status, "state", "terminated") or {}
            said = str(terminated.get("message") or "").strip()
            if (
                int(terminated.get("exitCode") or 0) == 0
                and "@sha256:" in said
                and not any(c.isspace() for c in said)
            ):
                return said
    return None
