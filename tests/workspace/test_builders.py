"""Manifests the controller writes: Machines, Services, Deployments and the tuning Job; the runtime choice."""

from __future__ import annotations

import copy
import json
from typing import Any

from kaito.workspace.inference import InferenceInputs, service_manifest, workload_manifest
from kaito.workspace.machines import (
    free_machine_names,
    machine_failure,
    machine_manifest,
    machine_name,
    sanitize_reason,
)
from kaito.workspace.podspec import manifest_hash
from kaito.workspace.presets import InstanceTypeInfo, choose_runtime
from kaito.workspace.tuning import TuningInputs, job_manifest, output_dir

from .fixtures import A100, LLAMA, PHI, V100, tuning_workspace, workspace


def test_machine_manifest_has_labels_requirements_taint_and_storage() -> None:
    ws = workspace()
    name = machine_name(ws, 0)
    assert name.startswith("ws") and len(name) == 11 and name[2:].isalnum()
    m = machine_manifest(ws, name, "50Gi")
    labels = m["metadata"]["labels"]
    assert labels["kaito.sh/workspace"] == "ws1"
    assert labels["kaito.sh/workspacenamespace"] == "default"
    assert labels["apps"] == "ws1"
    reqs = {r["key"]: r["values"] for r in m["spec"]["requirements"]}
    assert reqs["node.kubernetes.io/instance-type"] == ["Standard_NC6s_v3"]
    assert reqs["kaito.sh/machine-type"] == ["gpu"]
    assert reqs["kubernetes.io/arch"] == ["amd64"]
    assert reqs["kubernetes.io/os"] == ["linux"]
    assert m["spec"]["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    assert m["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_machine_never_stamps_reserved_label_keys() -> None:
    ws = workspace()
    ws["resource"]["labelSelector"] = {
        "matchLabels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux"},
        "matchExpressions": [{"key": "apps", "operator": "In", "values": ["ws1"]}],
    }
    labels = machine_manifest(ws, machine_name(ws, 0), "50Gi")["metadata"]["labels"]
    assert labels["apps"] == "ws1"
    assert not any("kubernetes.io/" in key for key in labels), labels


def test_machine_failure_is_read_from_launched_false() -> None:
    machine = {
        "metadata": {"name": "wsabc"},
        "status": {
            "conditions": [
                {
                    "type": "MachineLaunched",
                    "status": "False",
                    "reason": "QuotaExceeded",
                    "message": "Operation could not be completed as it results in exceeding approved quota",
                },
                {"type": "Ready", "status": "False", "reason": "QuotaExceeded"},
            ]
        },
    }
    failure = machine_failure(machine)
    assert failure is not None and failure.reason == "QuotaExceeded" and "quota" in failure.message
    assert (
        machine_failure({"status": {"conditions": [{"type": "MachineLaunched", "status": "Unknown"}]}})
        is None
    )
    assert sanitize_reason("insufficient quota!") == "InsufficientQuota"


def test_service_ports_and_lb_annotation() -> None:
    ws = workspace()
    svc = service_manifest(ws)
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
    assert ports == {"http": (80, 5000)}
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["selector"] == {"kaito.sh/workspace": "ws1"}
    assert svc["metadata"]["ownerReferences"][0]["controller"] is True
    ws["metadata"]["annotations"] = {"kaito.sh/enablelb": "True"}
    # Only when the operator allows public load balancers.
    assert service_manifest(ws)["spec"]["type"] == "ClusterIP"
    assert service_manifest(ws, allow_load_balancer=True)["spec"]["type"] == "LoadBalancer"


def test_deployment_pod_spec() -> None:
    ws = workspace(
        inference={
            "preset": {"name": PHI.name},
            "config": "my-config",
            "adapters": [
                {
                    "source": {"name": "adapter-a", "image": "reg/adapter:1", "imagePullSecrets": ["s1"]},
                    "strength": "0.5",
                }
            ],
        }
    )
    dep = workload_manifest(
        ws, InferenceInputs(PHI, "reg.io/kaito", ["node-1"], config_hash="abc", revision="1")
    )
    assert dep["kind"] == "Deployment" and dep["spec"]["replicas"] == 1
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "reg.io/kaito/kaito-phi-3-mini-4k-instruct:0.1.0"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 5000, "scheme": "HTTP"}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/dev/shm", "/mnt/config", "/mnt/adapter"} <= mounts
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in pod["volumes"]
    assert all(v["emptyDir"].get("sizeLimit") for v in pod["volumes"] if "emptyDir" in v)
    assert {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"} in pod["tolerations"]
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    term = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]
    assert {"key": "apps", "operator": "In", "values": ["ws1"]} in term["matchExpressions"]
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]
    init = pod["initContainers"][0]
    assert init["name"] == "adapter-a" and "/mnt/adapter/adapter-a" in init["command"][-1]
    assert {"name": "adapter-a", "value": "0.5"} in container["env"]
    assert pod["imagePullSecrets"] == [{"name": "s1"}]
    assert dep["spec"]["template"]["metadata"]["annotations"]["kaito.sh/config-hash"] == "abc"
    assert_restricted(pod)


def assert_restricted(pod: dict[str, Any]) -> None:
    """Pod Security ``restricted``, as the apiserver checks it (the real-node e2e runs such pods in a
    namespace that enforces it)."""
    assert pod["automountServiceAccountToken"] is False
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        c = container["securityContext"]
        assert c["allowPrivilegeEscalation"] is False and c["capabilities"] == {"drop": ["ALL"]}
        assert c.get("privileged") is not True


def test_private_image_and_hash_changes_with_config() -> None:
    ws = workspace(
        inference={
            "preset": {
                "name": PHI.name,
                "accessMode": "private",
                "presetOptions": {"image": "private.io/phi:9", "imagePullSecrets": ["p"]},
            }
        }
    )
    a = workload_manifest(ws, InferenceInputs(PHI, "reg.io", ["n1"], config_hash="a"))
    b = workload_manifest(ws, InferenceInputs(PHI, "reg.io", ["n1"], config_hash="b"))
    assert a["spec"]["template"]["spec"]["containers"][0]["image"] == "private.io/phi:9"
    assert a["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "p"}]
    assert manifest_hash(a) != manifest_hash(b)
    assert manifest_hash(a) == manifest_hash(
        workload_manifest(ws, InferenceInputs(PHI, "reg.io", ["n1"], config_hash="a"))
    )


def test_several_nodes_are_independent_replicas() -> None:
    ws = workspace(inference={"preset": {"name": LLAMA.name}})
    ws["resource"]["count"] = 2
    dep = workload_manifest(ws, InferenceInputs(LLAMA, "reg.io", ["n1", "n2"]))
    assert dep["kind"] == "Deployment" and dep["spec"]["replicas"] == 2
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "inference"]
    assert container["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]


def test_runtime_is_the_catalogs_where_the_gpus_can_run_it() -> None:
    chosen = choose_runtime(LLAMA, A100)
    assert chosen.backend == "vllm"
    assert chosen.describe() == (
        "serving with vllm: catalog runtime vllm, Standard_NC24ads_A100_v4 has compute capability 8.0"
    )
    older = choose_runtime(LLAMA, V100)
    assert older.backend == "transformers"
    assert older.reason == (
        "catalog runtime vllm, but Standard_NC6s_v3 has compute capability 7.0 and vLLM needs 8.0 or more"
    )
    # transformers runs on every generation: a newer GPU does not turn it into vLLM.
    assert choose_runtime(PHI, A100).backend == "transformers"
    assert choose_runtime(PHI, V100).backend == "transformers"
    # Own nodes (no catalog instance type) and a type without a known capability keep the catalog's.
    byo = choose_runtime(LLAMA, None)
    assert byo.backend == "vllm" and "not in the catalog" in byo.reason
    unknown = choose_runtime(LLAMA, InstanceTypeInfo("Custom_GPU", 1))
    assert unknown.backend == "vllm" and "compute capability of Custom_GPU is unknown" in unknown.reason


def test_the_chosen_runtime_is_the_servers_backend_env() -> None:
    ws = workspace(inference={"preset": {"name": LLAMA.name}})

    def env(inputs: InferenceInputs) -> dict[str, str]:
        container = workload_manifest(ws, inputs)["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e["value"] for e in container["env"]}

    on_v100 = env(InferenceInputs(LLAMA, "reg.io", ["n1"], runtime=choose_runtime(LLAMA, V100)))
    assert on_v100["INFERENCE_BACKEND"] == "transformers" and "MODEL_RUNTIME" not in on_v100
    # Without a choice (a builder called on its own), the catalog's runtime.
    assert env(InferenceInputs(LLAMA, "reg.io", ["n1"]))["INFERENCE_BACKEND"] == "vllm"
    on_a100 = env(InferenceInputs(LLAMA, "reg.io", ["n1"], runtime=choose_runtime(LLAMA, A100)))
    assert on_a100["INFERENCE_BACKEND"] == "vllm"


def test_template_workspace_runs_the_users_template() -> None:
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": "mine"}},
        "spec": {"containers": [{"name": "c", "image": "me/server:1"}]},
    }
    ws = workspace(inference={"template": copy.deepcopy(template)})
    dep = workload_manifest(ws, InferenceInputs(None, "reg.io", ["n1"]))
    pod = dep["spec"]["template"]
    assert pod["spec"]["containers"] == template["spec"]["containers"]
    assert (
        pod["metadata"]["labels"]["app"] == "mine"
        and pod["metadata"]["labels"]["kaito.sh/workspace"] == "ws1"
    )


def test_template_affinity_and_tolerations_are_merged_with_kaitos() -> None:
    user_term = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
    template = {
        "spec": {
            "containers": [{"name": "c", "image": "me/server:1"}],
            "tolerations": [{"key": "mine", "operator": "Exists"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [user_term]}
                },
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
            },
        },
    }
    ws = workspace(inference={"template": template})
    pod = workload_manifest(ws, InferenceInputs(None, "reg.io", ["n1", "n2"]))["spec"]["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    # The user's requirement AND KAITO's, in every term: the pod cannot leave the Workspace's GPU nodes.
    assert [t["matchFields"][0]["values"] for t in terms] == [["n1"], ["n2"]]
    for term in terms:
        assert term["matchExpressions"][0] == user_term["matchExpressions"][0]
        assert {"key": "apps", "operator": "In", "values": ["ws1"]} in term["matchExpressions"]
    assert "podAntiAffinity" in pod["affinity"]
    keys = [t.get("key") for t in pod["tolerations"]]
    assert "mine" in keys and "sku" in keys


def test_tuning_job_with_urls_and_pusher() -> None:
    ws = tuning_workspace()
    job = job_manifest(
        ws, TuningInputs(PHI, "reg.io", "tune1-tuning-config", "/mnt/results", ["n1"], 1, "h1")
    )
    spec = job["spec"]["template"]["spec"]
    assert job["metadata"]["name"] == "tune1" and spec["restartPolicy"] == "Never"
    init = spec["initContainers"][0]
    assert init["name"] == "data-downloader"
    env = {e["name"]: e["value"] for e in init["env"]}
    assert "DATA_URLS" not in env and env["DATA_VOLUME_PATH"] == "/mnt/data"
    assert init["command"] == [
        "python",
        "-m",
        "datamovers.downloader",
        "--",
        "https://example.com/data/train.parquet?x=1",
    ]
    assert env["DOWNLOAD_RETRIES"] == "5" and init["image"] == "reg.io/kaito-datamovers:0.1.0"
    trainer, pusher = spec["containers"]
    assert "accelerate launch --num_processes=1" in trainer["command"][-1]
    assert trainer["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pusher["name"] == "pusher" and pusher["securityContext"]["privileged"] is False
    assert pusher["securityContext"]["runAsNonRoot"] is True
    assert pusher["command"] == ["python", "-m", "datamovers.pusher"]
    penv = {e["name"]: e["value"] for e in pusher["env"]}
    assert (
        penv["OUTPUT_IMAGE"] == "registry.example.com/adapters/phi:1"
        and penv["RESULTS_DIR"] == "/mnt/results"
    )
    assert penv["DOCKER_CONFIG_FILE"] == "/etc/kaito/push/config.json"
    assert "fine_tuning_failed.txt" in trainer["command"][-1]
    assert not any("dind" in c["image"] for c in spec["containers"])
    secret = next(v for v in spec["volumes"] if v["name"] == "push-secret")
    assert secret["secret"]["secretName"] == "push-secret"
    assert job["metadata"]["annotations"]["workspace.kaito.io/hash"] == "h1"
    assert job["spec"]["podFailurePolicy"]["rules"][0]["action"] == "FailJob"
    # What the data movers give up on fails the Job at once; a rule names only containers the pod has.
    failing = [r["onExitCodes"]["containerName"] for r in job["spec"]["podFailurePolicy"]["rules"][:-1]]
    names = {c["name"] for c in [*spec["containers"], *spec.get("initContainers", [])]}
    assert set(failing) <= names and "pusher" in failing
    # A stuck run cannot hold the GPU node forever, nor a broken one retry forever.
    assert job["spec"]["activeDeadlineSeconds"] == 3 * 24 * 3600 and job["spec"]["backoffLimit"] == 3
    assert_restricted(spec)


def test_tuning_job_with_image_input_and_volume_output() -> None:
    ws = tuning_workspace(
        input={"image": "reg/data:1", "imagePullSecrets": ["d"]},
        output={"volumeSource": {"persistentVolumeClaim": {"claimName": "out"}}},
    )
    job = job_manifest(ws, TuningInputs(PHI, "reg.io", "cfg", "/mnt/out", [], 2, "h"))
    spec = job["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["name"] == "data-extractor"
    assert len(spec["containers"]) == 1
    results = next(v for v in spec["volumes"] if v["name"] == "results-volume")
    assert results["persistentVolumeClaim"] == {"claimName": "out"}
    assert spec["imagePullSecrets"] == [{"name": "d"}]


def test_output_dir_from_training_config() -> None:
    cm = {
        "data": {"training_config.yaml": "training_config:\n  TrainingArguments:\n    output_dir: /mnt/out\n"}
    }
    assert output_dir(cm) == "/mnt/out"
    assert (
        output_dir(
            {
                "data": {
                    "training_config.yaml": "training_config:\n  TrainingArguments:\n    output_dir: /etc\n"
                }
            }
        )
        == "/mnt/results"
    )
    assert output_dir(None) == "/mnt/results"


def test_inference_config_becomes_engine_args() -> None:
    from kaito.workspace.inference import config_env

    cm = {"data": {"inference_config.yaml": "vllm:\n  max-model-len: 2048\n  cpu-offload-gb: 0\n"}}
    env = config_env(cm)
    assert json.loads(env["VLLM_ENGINE_ARGS"]) == {"max-model-len": 2048, "cpu-offload-gb": 0}
    assert config_env({"data": {"inference_config.yaml": ": not yaml :"}}) == {}
    ws = workspace(inference={"preset": {"name": PHI.name}, "config": "cfg"})
    dep = workload_manifest(ws, InferenceInputs(PHI, "reg.io", ["n1"], config_env=env))
    names = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "VLLM_ENGINE_ARGS" in names


def test_machine_names_are_deterministic_per_slot_and_skip_taken_ones() -> None:
    """A create retried after a lost response must reuse its name (AlreadyExists), never mint another."""
    ws = workspace()
    assert machine_name(ws, 0) == machine_name(ws, 0)
    assert machine_name(ws, 0) != machine_name(ws, 1)
    other = workspace()
    other["metadata"]["uid"] = "another-uid"
    assert machine_name(other, 0) != machine_name(ws, 0), "a recreated workspace gets new names"
    first_two = free_machine_names(ws, set(), 2)
    assert first_two == [machine_name(ws, 0), machine_name(ws, 1)]
    assert free_machine_names(ws, {machine_name(ws, 0)}, 1) == [machine_name(ws, 1)]
