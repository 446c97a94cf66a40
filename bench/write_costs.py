"""What each kind of API write costs the control plane: apiserver and etcd CPU per write (not a test).

The workspace benchmark is bound by the apiserver's CPU on a 2-core machine, so the question for any
write the controller makes is what it costs there. For each kind of write the controller (or the floor)
makes, this runs ``BENCH_N`` of them (default 400) at 32 in flight against the ``make cluster-up``
cluster (started if it is not up; or ``KUBECONFIG``), with the CRDs installed and no controller
running, and prints one line a kind::

    write kind=ws_status_patch n=400 wall_s=… apiserver_ms=… etcd_ms=…

``apiserver_ms``/``etcd_ms`` are CPU milliseconds per write. Deployments are created paused, so the
deployment controller adds nothing of its own to the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from bench.workspaces import (  # noqa: E402
    bounded,
    cpu_by_process,
    ensure_cluster,
    floor_objects,
    install_manifests,
    workspace,
)
from kaito.api.constants import (  # noqa: E402
    ANNOTATION_WORKSPACE_HASH,
    ANNOTATION_WORKSPACE_REVISION,
    WORKSPACE_FINALIZER,
)
from kaito.runtime.client import ApiError, Client, PatchType, kinds  # noqa: E402
from kaito.workspace.kinds import WORKSPACE  # noqa: E402

N = int(os.environ.get("BENCH_N", "400"))
NAMESPACE = f"writes-{int(time.time())}"


def status_body(i: int, ready: bool) -> dict[str, Any]:
    """A status the size and shape of the controller's."""
    now = "2026-12-02T10:00:00Z"

    def cond(kind: str, status: bool, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": "True" if status else "False",
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
            "observedGeneration": 1,
        }

    return {
        "status": {
            "workerNodes": [f"gpu-{i}"],
            "state": "Ready" if ready else "Pending",
            "conditions": [
                cond("ResourceReady", True, "NodesReady", f"1 GPU node(s) ready: gpu-{i}"),
                cond("InferenceReady", ready, "Ready" if ready else "Pending", "1/1 replicas ready"),
                cond("WorkspaceReady", ready, "Ready" if ready else "Pending", "inference is ready"),
            ],
        }
    }


class Costs:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def measure(self, kind: str, op: Callable[[int], Awaitable[Any]]) -> None:
        before = cpu_by_process({})
        start = time.monotonic()
        await bounded([lambda i=i: op(i) for i in range(N)])  # type: ignore[misc]
        wall = time.monotonic() - start
        after = cpu_by_process({})
        api_ms, etcd_ms = ((after[c] - before[c]) * 1000 / N for c in ("kube-apiserver", "etcd"))
        print(
            f"write kind={kind} n={N} wall_s={wall:.1f} apiserver_ms={api_ms:.1f} etcd_ms={etcd_ms:.1f}",
            flush=True,
        )
        await asyncio.sleep(2)  # let the watch fan-out of this round finish before the next one

    async def run(self) -> None:
        objs = [floor_objects(i) for i in range(N)]
        for dep, _ in objs:
            dep["metadata"]["namespace"] = NAMESPACE
            dep["spec"]["paused"] = True

        def named(obj: dict[str, Any], suffix: str) -> dict[str, Any]:
            out = copy.deepcopy(obj)
            out["metadata"]["name"] += suffix
            out["metadata"]["namespace"] = NAMESPACE
            return out

        await self.measure(
            "configmap_create",
            lambda i: self.client.create(
                kinds.CONFIGMAP, {"metadata": {"name": f"cm-{i}"}, "data": {"k": "v"}}, NAMESPACE
            ),
        )
        # Strategic merge, under its old name: the generated client this line was first measured with
        # sent a dict patch to a built-in kind that way, and the figures stay comparable.
        await self.measure(
            "configmap_merge_patch",
            lambda i: self.client.patch(
                kinds.CONFIGMAP,
                NAMESPACE,
                f"cm-{i}",
                {"metadata": {"annotations": {"a": "b"}}},
                patch_type=PatchType.STRATEGIC,
            ),
        )

        def ws(i: int) -> dict[str, Any]:
            body = workspace(i)
            body["metadata"]["namespace"] = NAMESPACE
            return body

        await self.measure(
            "ws_create",
            lambda i: self.client.create(WORKSPACE, ws(i)),
        )
        await self.measure(
            "ws_metadata_merge_patch",
            lambda i: self.client.patch(
                WORKSPACE,
                NAMESPACE,
                f"ws-{i}",
                {
                    "metadata": {
                        "finalizers": [WORKSPACE_FINALIZER],
                        "annotations": {
                            ANNOTATION_WORKSPACE_HASH: "0123456789abcdef",
                            ANNOTATION_WORKSPACE_REVISION: "1",
                        },
                    }
                },
            ),
        )
        for ready in (False, True):
            await self.measure(
                f"ws_status_merge_patch_{'ready' if ready else 'pending'}",
                lambda i, ready=ready: self.client.patch_status(  # type: ignore[misc]
                    WORKSPACE, NAMESPACE, f"ws-{i}", status_body(i, ready)
                ),
            )
        for name, index, kind in (("deployment", 0, kinds.DEPLOYMENT), ("service", 1, kinds.SERVICE)):
            await self.measure(
                f"{name}_create",
                lambda i, k=kind, x=index: self.client.create(k, named(objs[i][x], "-c")),  # type: ignore[misc]
            )
            await self.measure(
                f"{name}_server_side_apply",
                lambda i, k=kind, x=index: self.client.apply(  # type: ignore[misc]
                    k, named(objs[i][x], "-a"), field_manager="bench", force=True
                ),
            )
        await self.measure(
            "controllerrevision_create",
            lambda i: self.client.create(
                kinds.CONTROLLER_REVISION,
                {
                    "metadata": {"name": f"rev-{i}"},
                    "revision": 1,
                    "data": {"spec": workspace(i)["inference"], "hash": "0123456789abcdef"},
                },
                NAMESPACE,
            ),
        )
        await self.measure(
            "event_create",
            lambda i: self.client.create(
                kinds.EVENT,
                {
                    "metadata": {"generateName": "ws-"},
                    "involvedObject": {"kind": "Workspace", "namespace": NAMESPACE, "name": f"ws-{i}"},
                    "reason": "WorkspaceReady",
                    "message": "WorkspaceReady=True: inference is ready",
                    "type": "Normal",
                    "source": {"component": "bench"},
                    "firstTimestamp": "2026-12-02T10:00:00Z",
                    "lastTimestamp": "2026-12-02T10:00:00Z",
                    "count": 1,
                },
                NAMESPACE,
            ),
        )


async def main() -> None:
    kubeconfig = ensure_cluster()
    install_manifests(kubeconfig)
    # No client-side rate limit: CONCURRENCY writes in flight is the load being measured.
    client = await Client.from_kubeconfig(kubeconfig, qps=0, burst=0, field_manager="bench")
    await client.create(kinds.NAMESPACE, {"metadata": {"name": NAMESPACE}})
    try:
        await Costs(client).run()
    finally:
        # The Workspaces carry our finalizer and no controller runs to remove it.
        for i in range(N):
            with contextlib.suppress(ApiError):
                await client.patch(WORKSPACE, NAMESPACE, f"ws-{i}", {"metadata": {"finalizers": None}})
        await client.delete(kinds.NAMESPACE, None, NAMESPACE)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
