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

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from bench.workspaces import (  # noqa: E402
    CONCURRENCY,
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

N = int(os.environ.get("BENCH_N", "400"))
NAMESPACE = f"writes-{int(time.time())}"
GROUP, VERSION, PLURAL = "kaito.sh", "v1alpha1", "workspaces"


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
    def __init__(self, api: k8s.ApiClient) -> None:
        # Any: kubernetes_asyncio takes plain dicts as bodies, though its annotations name only its models.
        self.core: Any = k8s.CoreV1Api(api)
        self.apps: Any = k8s.AppsV1Api(api)
        self.custom: Any = k8s.CustomObjectsApi(api)
        self.api = api

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
            lambda i: self.core.create_namespaced_config_map(
                NAMESPACE, {"metadata": {"name": f"cm-{i}"}, "data": {"k": "v"}}
            ),
        )
        await self.measure(
            "configmap_merge_patch",
            lambda i: self.core.patch_namespaced_config_map(
                f"cm-{i}", NAMESPACE, {"metadata": {"annotations": {"a": "b"}}}
            ),
        )

        def ws(i: int) -> dict[str, Any]:
            body = workspace(i)
            body["metadata"]["namespace"] = NAMESPACE
            return body

        await self.measure(
            "ws_create",
            lambda i: self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, ws(i)),
        )
        await self.measure(
            "ws_metadata_merge_patch",
            lambda i: self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                NAMESPACE,
                PLURAL,
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
                _content_type="application/merge-patch+json",
            ),
        )
        for ready in (False, True):
            await self.measure(
                f"ws_status_merge_patch_{'ready' if ready else 'pending'}",
                lambda i, ready=ready: self.custom.patch_namespaced_custom_object_status(  # type: ignore[misc]
                    GROUP,
                    VERSION,
                    NAMESPACE,
                    PLURAL,
                    f"ws-{i}",
                    status_body(i, ready),
                    _content_type="application/merge-patch+json",
                ),
            )
        kinds = (
            ("deployment", 0, self.apps.create_namespaced_deployment, self.apps.patch_namespaced_deployment),
            ("service", 1, self.core.create_namespaced_service, self.core.patch_namespaced_service),
        )
        for kind, index, create, patch in kinds:
            await self.measure(
                f"{kind}_create",
                lambda i, c=create, x=index: c(NAMESPACE, named(objs[i][x], "-c")),  # type: ignore[misc]
            )
            await self.measure(
                f"{kind}_server_side_apply",
                lambda i, p=patch, x=index: p(  # type: ignore[misc]
                    f"ws-{i}-a",
                    NAMESPACE,
                    named(objs[i][x], "-a"),
                    field_manager="bench",
                    force=True,
                    _content_type="application/apply-patch+yaml",
                ),
            )
        await self.measure(
            "controllerrevision_create",
            lambda i: self.apps.create_namespaced_controller_revision(
                NAMESPACE,
                {
                    "metadata": {"name": f"rev-{i}"},
                    "revision": 1,
                    "data": {"spec": workspace(i)["inference"], "hash": "0123456789abcdef"},
                },
            ),
        )
        await self.measure(
            "event_create",
            lambda i: self.core.create_namespaced_event(
                NAMESPACE,
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
            ),
        )


async def main() -> None:
    kubeconfig = ensure_cluster()
    install_manifests(kubeconfig)
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = CONCURRENCY
    api = k8s.ApiClient(configuration)
    core: Any = k8s.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": NAMESPACE}})
    try:
        await Costs(api).run()
    finally:
        # The Workspaces carry our finalizer and no controller runs to remove it.
        custom: Any = k8s.CustomObjectsApi(api)
        for i in range(N):
            with contextlib.suppress(k8s.ApiException):
                await custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    NAMESPACE,
                    PLURAL,
                    f"ws-{i}",
                    {"metadata": {"finalizers": None}},
                    _content_type="application/merge-patch+json",
                )
        await core.delete_namespace(NAMESPACE)
        await api.close()


if __name__ == "__main__":
    asyncio.run(main())
