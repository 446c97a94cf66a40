"""kaito.runtime: an asyncio controller-runtime with an in-house informer loop.

Objects everywhere (cache, reconcilers, client results) are plain JSON dicts exactly as the apiserver
returns them. Requests go over aiohttp through a small built-in connection (kubeconfig, in-cluster
service account, exec token plugins); importing kubernetes_asyncio's generated client costs ~40 MiB of
RSS, so it is loaded only as a fallback (``auth-provider`` kubeconfigs), with
``ManagerOptions(use_kubernetes_asyncio=True)``, or when ``ManagerOptions.api_client`` hands the
manager an existing ``kubernetes_asyncio`` ApiClient.
Without kubernetes_asyncio, ``import kaito.runtime`` costs ~47 MiB RSS (aiohttp, pydantic, prometheus).

Usage::

    import sys
    from kaito.runtime import (Manager, ManagerOptions, Request, Result, Kind, kinds, predicates,
                               owner_reference, run_manager)

    WORKSPACE = Kind("kaito.sh", "v1alpha1", "Workspace", "workspaces", namespaced=True)

    mgr = Manager(ManagerOptions(
        kubeconfig=None,                       # $KUBECONFIG, ~/.kube/config or in-cluster
        metrics_bind_address=":8080",          # "0" disables
        health_probe_bind_address=":8081",     # /healthz, /readyz (503 until caches synced)
        leader_elect=True, leader_election_id="kaito-workspace",
        leader_election_namespace="kaito-system",
        qps=20, burst=30, field_manager="kaito-workspace-controller",
    ))
    recorder = mgr.event_recorder("workspace-controller")

    async def reconcile(req: Request) -> Result | None:
        ws = mgr.cache.get(WORKSPACE, req.namespace, req.name)   # cached dict (read-only!) or None
        if ws is None:
            return None                                          # deleted: nothing to do
        deploy = {
            "metadata": {"name": req.name, "namespace": req.namespace,
                         "ownerReferences": [owner_reference(WORKSPACE, ws)]},
            "spec": {...},
        }
        await mgr.client.apply(kinds.DEPLOYMENT, deploy)          # server-side apply, force=True
        owned = mgr.cache.list(kinds.DEPLOYMENT, req.namespace, index=("owner", ws["metadata"]["uid"]))
        recorder.event(ws, "Normal", "Applied", f"{len(owned)} deployment(s)")
        await mgr.client.patch_status(WORKSPACE, req.namespace, req.name, {"status": {"ready": True}})
        return Result(requeue_after=60)                          # or None / Result(requeue=True)

    (mgr.controller("workspace")
        .for_(WORKSPACE, predicates.generation_changed())
        .owns(kinds.DEPLOYMENT).owns(kinds.JOB)
        .watches(kinds.NODE, mapper=lambda node: [Request("ns", "name")])
        .max_concurrent_reconciles(8)
        .complete(reconcile))          # an async (Request) -> Result | None, or an object with .reconcile()

    mgr.add(gc_loop, needs_leader=True)            # async def gc_loop() -> None, runs until cancelled
    mgr.add(webhook_server, needs_leader=False)    # runs on every replica

    sys.exit(run_manager(mgr))    # or: await mgr.run() (returns after SIGTERM/stop(); raises
                                  # LeaderElectionLost when the lease is lost)

Pieces (all importable from here):

* **Client** (``mgr.client``; standalone ``await Client.from_kubeconfig(...)``): ``get``, ``get_or_none``,
  ``list``, ``create``, ``update``, ``update_status``, ``patch`` (merge / json / strategic),
  ``patch_status``, ``apply`` / ``apply_status`` (server-side apply, field manager, ``force``), ``delete``
  (404 → ``False``), ``modify`` (read-modify-write with bounded 409 retries), ``watch``, ``kind_for``
  (cached discovery), ``typed(kind, Model)`` (pydantic). Methods addressing one object take
  ``(kind, namespace, name)``; ``namespace`` is ignored (pass None) for cluster-scoped kinds. Every
  request passes a token bucket (qps/burst) and is counted in ``rest_client_requests_total`` and
  ``client.stats`` (``stats.by_method``, ``stats.writes``). Errors: ``ApiError`` and subclasses
  ``NotFoundError``, ``ConflictError``, ``AlreadyExistsError``, ``GoneError``, ``InvalidError``.
* **Cache** (``mgr.cache``): one shared informer per kind. ``get(kind, namespace, name)``,
  ``list(kind, namespace=None, label_selector=..., index=(name, value))`` with built-in indexes
  ``"namespace"`` and ``"owner"`` (owner UID) plus ``index_field(kind, name, fn)``; ``informer(kind)``
  registers a kind before ``run``; ``await ensure(kind)`` starts one later. Returned dicts are the cached
  objects themselves: never mutate them (``copy.deepcopy`` first). ``managedFields`` are stripped.
  ``CacheOptions``/``ByKind`` restrict namespaces, selectors, metadata-only watches, resync.
* **Controllers**: ``Request(namespace, name)``, ``Result(requeue=False, requeue_after=0.0)``,
  ``TerminalError`` (no requeue); exceptions are logged with the key, counted, requeued with per-key
  exponential backoff (5 ms → 1000 s, max'd with a 10 qps/100 burst bucket). ``predicates``:
  ``generation_changed``, ``resource_version_changed``, ``labels_changed``, ``annotations_changed``,
  ``label_selector``, ``custom``, combinable with ``&``, ``|``, ``~``.
* **Work queue** (``WorkQueue``) and rate limiters, usable on their own.
* **Events**: ``mgr.event_recorder(component).event(obj, "Warning", "Reason", "message")`` (non-blocking;
  repeats aggregate into ``count``).
* **Flags**: ``add_manager_flags(parser)`` / ``options_from_flags(args)`` (``--kube-api-qps``,
  ``--kube-api-burst``, ``--leader-elect``, ``--metrics-bind-address``, ...).
* **Logging**: ``configure_logging("json" | "console")``; every line logged during a reconcile carries
  ``controller``, ``key`` and ``reconcile_id``.
* **Metrics**: controller-runtime's names (``controller_runtime_*``, ``workqueue_*``,
  ``rest_client_requests_total``, ``leader_election_master_status``) on a per-manager registry.
"""

from kaito.runtime.cache import ByKind, Cache, CacheOptions, KindNotCachedError
from kaito.runtime.client import (
    AlreadyExistsError,
    ApiError,
    Client,
    ConflictError,
    GoneError,
    InvalidError,
    Kind,
    NotFoundError,
    PatchType,
    TypedClient,
    UnknownKindError,
    WatchEvent,
    from_dict,
    is_conflict,
    is_not_found,
    kinds,
    object_key,
    to_dict,
)
from kaito.runtime.controller import (
    Builder,
    Controller,
    Predicate,
    Reconciler,
    Request,
    Result,
    TerminalError,
    predicates,
)
from kaito.runtime.events import EventRecorder
from kaito.runtime.flags import add_manager_flags, options_from_flags
from kaito.runtime.informer import EventHandler, HandlerFuncs, Informer, LabelSelector
from kaito.runtime.log import configure_logging
from kaito.runtime.manager import (
    LeaderElectionLost,
    LeaderElector,
    Manager,
    ManagerOptions,
    Runnable,
    RunnableFailed,
    run_manager,
)
from kaito.runtime.metrics import RuntimeMetrics
from kaito.runtime.objects import Obj, owner_reference
from kaito.runtime.workqueue import ShutDown, WorkQueue, default_controller_rate_limiter

__all__ = [
    "AlreadyExistsError",
    "ApiError",
    "Builder",
    "ByKind",
    "Cache",
    "CacheOptions",
    "Client",
    "ConflictError",
    "Controller",
    "EventHandler",
    "EventRecorder",
    "GoneError",
    "HandlerFuncs",
    "Informer",
    "InvalidError",
    "Kind",
    "KindNotCachedError",
    "LabelSelector",
    "LeaderElectionLost",
    "LeaderElector",
    "Manager",
    "ManagerOptions",
    "NotFoundError",
    "Obj",
    "PatchType",
    "Predicate",
    "Reconciler",
    "Request",
    "Result",
    "Runnable",
    "RunnableFailed",
    "RuntimeMetrics",
    "ShutDown",
    "TerminalError",
    "TypedClient",
    "UnknownKindError",
    "WatchEvent",
    "WorkQueue",
    "add_manager_flags",
    "configure_logging",
    "default_controller_rate_limiter",
    "from_dict",
    "is_conflict",
    "is_not_found",
    "kinds",
    "object_key",
    "options_from_flags",
    "owner_reference",
    "predicates",
    "run_manager",
    "to_dict",
]
