"""A stand-in for the gpu-provisioner in cluster tests: completes Machines with simulated kwok GPU nodes.

For each new Machine it creates a kwok Node carrying the Machine's labels and taints (as the provisioner's
agent pool would) and marks the Machine Launched/Registered/Initialized/Ready with ``status.nodeName``.
Machines of workspaces listed in ``quota_failures`` instead get ``MachineLaunched=False`` with an Azure
quota message. When a Machine is gone, its node is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from e2e.cluster import LocalCluster
from kaito.runtime.client import Client, NotFoundError, PatchType
from kaito.workspace import kinds

QUOTA_MESSAGE = (
    "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. "
    "Location: eastus, Current Limit: 0, Current Usage: 0, Additional Required: 6"
)
GPUS = {"standard_nc12s_v3": 2, "standard_nc24s_v3": 4}


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ProvisionerSim:
    def __init__(self, cluster: LocalCluster, client: Client) -> None:
        self.cluster = cluster
        self.client = client
        self.quota_failures: set[str] = set()
        # Workspaces whose nodes carry a taint their pods do not tolerate: the pods stay Pending, so kwok
        # cannot run them to completion before a test fails them by hand.
        self.hold_pods: set[str] = set()
        self.handled: set[str] = set()
        self.nodes: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="provisioner-sim")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.step()
            except Exception as exc:  # keep simulating; a test will time out with a clear message
                print(f"provisioner-sim: {exc!r}")
            await asyncio.sleep(0.3)

    async def step(self) -> None:
        machines = (await self.client.list(kinds.MACHINE))["items"]
        names = {m["metadata"]["name"] for m in machines}
        for machine in machines:
            name = machine["metadata"]["name"]
            if name in self.handled or machine["metadata"].get("deletionTimestamp"):
                continue
            self.handled.add(name)
            await self._complete(machine)
        for node in sorted(self.nodes - names):
            await asyncio.to_thread(
                self.cluster.kubectl, "delete", "node", node, "--ignore-not-found", "--wait=false"
            )
            self.nodes.discard(node)
            self.handled.discard(node)

    async def _complete(self, machine: dict[str, Any]) -> None:
        name = machine["metadata"]["name"]
        labels = dict(machine["metadata"].get("labels") or {})
        reqs = {r["key"]: r["values"] for r in machine["spec"].get("requirements") or []}
        instance_type = reqs.get("node.kubernetes.io/instance-type", ["Standard_NC6s_v3"])[0]
        if labels.get("kaito.sh/workspace") in self.quota_failures:
            await self._status(
                name,
                {
                    "conditions": [
                        {
                            "type": "MachineLaunched",
                            "status": "False",
                            "reason": "QuotaExceeded",
                            "message": QUOTA_MESSAGE,
                            "lastTransitionTime": _now(),
                        },
                        {
                            "type": "Ready",
                            "status": "False",
                            "reason": "QuotaExceeded",
                            "message": QUOTA_MESSAGE,
                            "lastTransitionTime": _now(),
                        },
                    ]
                },
            )
            return
        for key in ("kubernetes.io/arch", "kubernetes.io/os", "kaito.sh/machine-type"):
            if key in reqs:
                labels[key] = reqs[key][0]
        taints = list(machine["spec"].get("taints") or [])
        if labels.get("kaito.sh/workspace") in self.hold_pods:
            taints.append({"key": "kaito.test/hold", "value": "true", "effect": "NoSchedule"})
        manifest = self.cluster.gpu_node_manifest(
            name,
            labels=labels,
            gpus=GPUS.get(instance_type.lower(), 1),
            instance_type=instance_type,
            provider_id=f"azure:///subscriptions/sim/{name}",
            taints=taints,
        )
        await asyncio.to_thread(self.cluster.kubectl, "create", "-f", "-", input=json.dumps(manifest))
        self.nodes.add(name)
        now = _now()
        await self._status(
            name,
            {
                "nodeName": name,
                "providerID": f"azure:///subscriptions/sim/{name}",
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": now}
                    for t in ("MachineLaunched", "MachineRegistered", "MachineInitialized", "Ready")
                ],
            },
        )

    async def _status(self, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(NotFoundError):
            await self.client.patch_status(
                kinds.MACHINE, None, name, {"status": status}, patch_type=PatchType.MERGE
            )
