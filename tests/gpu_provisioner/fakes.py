"""In-memory stand-ins for the apiserver and the cloud, for unit tests of the controller logic."""

from __future__ import annotations

import asyncio
import copy
import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gpu_provisioner.cloudprovider.aks.agentpool import is_pool_node
from gpu_provisioner.cloudprovider.api import (
    CloudProviderError,
    Instance,
    InstanceNotFoundError,
    InstanceState,
    NodeRequest,
)
from gpu_provisioner.cloudprovider.local.node import is_local_node, machine_of_node
from kaito.runtime.objects import Obj

_rv = itertools.count(1)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)


class FakeKube:
    """Machines and Nodes in dicts; deletion honours finalizers like the apiserver."""

    def __init__(self) -> None:
        self.machines: dict[str, Obj] = {}
        self.nodes: dict[str, Obj] = {}
        self.events: list[tuple[str, str, str, str]] = []

    def add_machine(self, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        meta["resourceVersion"] = str(next(_rv))
        self.machines[meta["name"]] = obj
        return obj

    def add_node(self, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2020-01-01T00:00:00Z")
        meta["resourceVersion"] = str(next(_rv))
        self.nodes[meta["name"]] = obj
        return obj

    async def get_machine(self, name: str) -> Obj | None:
        m = self.machines.get(name)
        return copy.deepcopy(m) if m else None

    get_machine_live = get_machine

    async def list_machines(self) -> list[Obj]:
        return [copy.deepcopy(m) for m in self.machines.values()]

    async def list_nodes(self) -> list[Obj]:
        return [copy.deepcopy(n) for n in self.nodes.values()]

    def _patch(self, store: dict[str, Obj], name: str, patch: Obj) -> Obj:
        obj = store[name]
        rv = (patch.get("metadata") or {}).get("resourceVersion")
        if rv is not None and rv != obj["metadata"]["resourceVersion"]:
            raise RuntimeError("409 conflict")
        patch = copy.deepcopy(patch)
        patch.get("metadata", {}).pop("resourceVersion", None)
        _merge(obj, patch)
        obj["metadata"]["resourceVersion"] = str(next(_rv))
        if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            del store[name]
        return copy.deepcopy(obj)

    async def patch_machine(self, name: str, patch: Obj) -> Obj:
        return self._patch(self.machines, name, patch)

    async def patch_machine_status(self, name: str, patch: Obj) -> Obj:
        return self._patch(self.machines, name, {"status": patch["status"]})

    async def patch_node(self, name: str, patch: Obj | list[Obj]) -> Obj | None:
        if name not in self.nodes:
            return None
        if isinstance(patch, dict):
            return self._patch(self.nodes, name, patch)
        obj = self.nodes[name]
        for op in patch:
            *parents, leaf = op["path"].strip("/").split("/")
            target = obj
            for part in parents:
                target = target.setdefault(part, {})
            if op["op"] == "test" and target.get(leaf) != op["value"]:
                raise RuntimeError("422 test failed")
            if op["op"] in ("add", "replace"):
                target[leaf] = copy.deepcopy(op["value"])
        obj["metadata"]["resourceVersion"] = str(next(_rv))
        return copy.deepcopy(obj)

    def _delete(self, store: dict[str, Obj], name: str) -> bool:
        obj = store.get(name)
        if obj is None:
            return False
        if obj["metadata"].get("finalizers"):
            obj["metadata"].setdefault("deletionTimestamp", "2020-01-01T00:00:00Z")
        else:
            del store[name]
        return True

    async def delete_machine(self, name: str) -> bool:
        return self._delete(self.machines, name)

    async def delete_node(self, name: str) -> bool:
        return self._delete(self.nodes, name)

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        self.events.append((obj["metadata"]["name"], event_type, reason, message))


@dataclass
class FakeCloud:
    """One instance per machine name; scripted failures; optionally makes the Node join."""

    kube: FakeKube | None = None
    instances: dict[str, Instance] = field(default_factory=dict)
    create_errors: list[CloudProviderError] = field(default_factory=list)
    delete_errors: list[CloudProviderError] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    create_delay: float = 0.0
    gpus: int = 1

    @property
    def name(self) -> str:
        return "fake"

    async def create(self, request: NodeRequest) -> Instance:
        self.calls.append(("create", request.name))
        if self.create_errors:
            raise self.create_errors.pop(0)
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        if request.name in self.instances:
            return self.instances[request.name]
        pid = f"fake:///{request.name}"
        inst = Instance(
            name=request.name,
            machine_name=request.name,
            provider_id=pid,
            instance_type=request.instance_type,
            state=InstanceState.RUNNING,
            capacity={"nvidia.com/gpu": str(self.gpus), "cpu": "8"},
            allocatable={"nvidia.com/gpu": str(self.gpus), "cpu": "8"},
            created_at=datetime.now(UTC),
        )
        self.instances[request.name] = inst
        if self.kube is not None:
            self.kube.add_node(ready_node(f"node-{request.name}", pid, self.gpus))
        return inst

    async def get(self, machine_name: str) -> Instance:
        self.calls.append(("get", machine_name))
        if machine_name not in self.instances:
            raise InstanceNotFoundError(f"no instance for {machine_name}")
        return self.instances[machine_name]

    async def list(self) -> list[Instance]:
        self.calls.append(("list", ""))
        return list(self.instances.values())

    async def delete(self, machine_name: str) -> None:
        self.calls.append(("delete", machine_name))
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        if self.instances.pop(machine_name, None) is None:
            raise InstanceNotFoundError(f"no instance for {machine_name}")

    async def close(self) -> None:
        return None

    def owns_node(self, node: Mapping[str, Any]) -> bool:
        # Either real provider's marks: the unit tests cover both kinds of node.
        return is_local_node(node) or is_pool_node(node)

    def machine_name_of(self, node: Mapping[str, Any]) -> str | None:
        return machine_of_node(node)


def ready_node(name: str, provider_id: str, gpus: int = 1) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {}},
        "spec": {"providerID": provider_id},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "capacity": {"nvidia.com/gpu": str(gpus), "cpu": "8"},
            "allocatable": {"nvidia.com/gpu": str(gpus), "cpu": "8"},
        },
    }


def machine(name: str = "ws0123abcd", instance_type: str = "Standard_NC6s_v3", **labels: str) -> Obj:
    return {
        "apiVersion": "karpenter.sh/v1alpha5",
        "kind": "Machine",
        "metadata": {"name": name, "labels": {"kaito.sh/workspace": "demo", **labels}},
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance_type]},
                {"key": "karpenter.sh/provisioner-name", "operator": "In", "values": ["default"]},
            ],
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "resources": {"requests": {"storage": "120Gi"}},
        },
    }
