"""Workspace, node and preset fixtures shared by the unit tests, plus an in-memory cache and client."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from kaito.runtime.client import AlreadyExistsError, Kind, NotFoundError, PatchType
from kaito.runtime.objects import Obj
from kaito.workspace.presets import InstanceTypeInfo, PresetWorkload, StaticPresets

PHI = PresetWorkload(
    name="phi-3-mini-4k-instruct",
    tag="0.1.0",
    gpu_count=1,
    disk_storage="50Gi",
    supports_tuning=True,
    tuning_disk_storage="80Gi",
)
LLAMA = PresetWorkload(name="llama-3.1-8b-instruct", tag="0.0.1", disk_storage="90Gi", runtime="vllm")
V100 = InstanceTypeInfo("Standard_NC6s_v3", 1, compute_capability=(7, 0))
A100 = InstanceTypeInfo("Standard_NC24ads_A100_v4", 1, compute_capability=(8, 0))
PRESETS = StaticPresets([PHI, LLAMA], [V100, InstanceTypeInfo("Standard_NC12s_v3", 2), A100])


def workspace(name: str = "ws1", ns: str = "default", **overrides: Any) -> Obj:
    obj: Obj = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"uid-{name}",
            "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "resource": {
            "count": 1,
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {"preset": {"name": PHI.name}},
    }
    obj.update(overrides)
    return obj


def tuning_workspace(name: str = "tune1", ns: str = "default", **tuning: Any) -> Obj:
    obj = workspace(name, ns)
    del obj["inference"]
    obj["tuning"] = {
        "preset": {"name": PHI.name},
        "method": "qlora",
        "input": {"urls": ["https://example.com/data/train.parquet?x=1"]},
        "output": {"image": "registry.example.com/adapters/phi:1", "imagePushSecret": "push-secret"},
        **tuning,
    }
    return obj


def node(
    name: str,
    labels: dict[str, str] | None = None,
    gpus: int = 1,
    ready: bool = True,
    instance_type: str = "Standard_NC6s_v3",
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "node.kubernetes.io/instance-type": instance_type,
                "accelerator": "nvidia",
                **(labels or {}),
            },
        },
        "spec": {},
        "status": {
            "capacity": {"nvidia.com/gpu": str(gpus)} if gpus else {},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _labels_match(obj: Obj, selector: Any) -> bool:
    if selector is None:
        return True
    if isinstance(selector, str):
        pairs = dict(p.split("=", 1) for p in selector.split(",") if "=" in p)
        keys = [p for p in selector.split(",") if "=" not in p and p]
    else:
        pairs, keys = dict(selector), []
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in pairs.items()) and all(k in labels for k in keys)


class FakeCache:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}

    @staticmethod
    def _key(kind: Kind, ns: str | None, name: str) -> tuple[str, str, str]:
        return (kind.group_kind, (ns or "") if kind.namespaced else "", name)

    def put(self, kind: Kind, obj: Obj) -> Obj:
        meta = obj["metadata"]
        self.objects[self._key(kind, meta.get("namespace"), meta["name"])] = obj
        return obj

    def remove(self, kind: Kind, ns: str | None, name: str) -> None:
        self.objects.pop(self._key(kind, ns, name), None)

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        return self.objects.get(self._key(kind, namespace, name))

    def list(
        self, kind: Kind, namespace: str | None = None, *, label_selector: Any = None, index: Any = None
    ) -> list[Obj]:
        return [
            o
            for (gk, ns, _), o in self.objects.items()
            if gk == kind.group_kind
            and (not namespace or not kind.namespaced or ns == namespace)
            and _labels_match(o, label_selector)
        ]


class FakeClient:
    """Records writes. With ``sync=True`` writes land in the cache at once (a perfectly fresh watch);
    with ``sync=False`` the cache stays stale, as it is right after a write."""

    def __init__(self, cache: FakeCache, sync: bool = True) -> None:
        self.cache = cache
        self.sync = sync
        self.calls: list[tuple[str, str, str]] = []
        self.rv = itertools.count(100)
        self.fail_create: dict[str, Exception] = {}

    def _write(self, kind: Kind, obj: Obj) -> Obj:
        """What the apiserver would store: a copy with a new resourceVersion, in the cache if ``sync``."""
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(next(self.rv))
        if self.sync:
            self.cache.put(kind, obj)
        return obj

    def _current(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        current = self.cache.get(kind, namespace, name)
        if current is None:
            raise NotFoundError(404, "NotFound")
        return copy.deepcopy(current)

    async def create(
        self, kind: Kind, obj: Obj, namespace: str | None = None, *, field_manager: str | None = None
    ) -> Obj:
        self.calls.append(("create", kind.kind, obj["metadata"]["name"]))
        if kind.kind in self.fail_create:
            raise self.fail_create[kind.kind]
        if self.cache.get(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"]) is not None:
            raise AlreadyExistsError(409, "AlreadyExists")
        return self._write(kind, obj)

    async def get(self, kind: Kind, namespace: str | None, name: str, *, metadata_only: bool = False) -> Obj:
        self.calls.append(("get", kind.kind, name))
        return self._current(kind, namespace, name)

    async def apply(
        self, kind: Kind, obj: Obj, *, field_manager: str | None = None, force: bool = True
    ) -> Obj:
        self.calls.append(("apply", kind.kind, obj["metadata"]["name"]))
        return self._write(kind, obj)

    async def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        self.calls.append(("patch", kind.kind, name))
        out = self._current(kind, namespace, name)
        if patch_type == PatchType.JSON:
            for op in patch:
                if op["op"] == "remove" and op["path"].startswith("/metadata/finalizers/"):
                    out["metadata"]["finalizers"].pop(int(op["path"].rsplit("/", 1)[1]))
        else:
            _merge(out, patch)
        return self._write(kind, out)

    async def patch_status(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        self.calls.append(("patch_status", kind.kind, name))
        out = self._current(kind, namespace, name)
        _merge(out, patch)
        return self._write(kind, out)

    async def delete(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        *,
        propagation_policy: str | None = None,
        preconditions: Obj | None = None,
    ) -> bool:
        self.calls.append(("delete", kind.kind, name))
        if self.sync:
            self.cache.remove(kind, namespace, name)
        return True

    def writes(self, verb: str | None = None, kind: str | None = None) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if (verb is None or c[0] == verb) and (kind is None or c[1] == kind)]


def _merge(target: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict) and key != "status":
            _merge(target[key], value)
        elif isinstance(value, dict) and key == "status":
            target[key] = {**(target.get(key) or {}), **value}
            target[key] = {k: v for k, v in target[key].items() if v is not None}
        else:
            target[key] = value
