"""An HTTPS server speaking enough Azure Resource Manager for the AKS provider: AgentPools (get, list,
create-or-update, delete as long-running operations), the managed cluster, and the VMSS/VM lists of
the node resource group.

Long-running operations behave as ARM's do: the PUT answers 201 (provisioningState Creating) with an
``Azure-AsyncOperation`` header; the operation resource reports InProgress until the work is done,
then Succeeded / Failed (with an ARM error) / Canceled; DELETE answers 202 with
``Azure-AsyncOperation`` and ``Location``. A PUT or DELETE on a pool with an operation running
answers 409 "in progress", as AKS does. When a pool finishes creating, its scale set gets one VM
and a Node with the matching providerID is registered; deleting the pool unregisters the Node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from gpu_provisioner.cloudprovider.api.instancetype import InstanceTypeLookup
from gpu_provisioner.instancetypes import catalog_instance_types
from tests.support.armemulator.credential import FAKE_TOKEN
from tests.support.armemulator.faults import Fault
from tests.support.armemulator.nodes import KWOK_ANNOTATION, KWOK_TAINT, NodeRegistrar
from tests.support.armemulator.tls import TLSFiles, make_tls_files

log = structlog.get_logger(__name__)

_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_TOKEN_PATH = re.compile(r"/[^/]+/oauth2/v2\.0/token")
_RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
_MC = _RG + r"/providers/Microsoft\.ContainerService/managedClusters/(?P<cluster>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str]]] = [
    ("pool", re.compile(_MC + r"/agentPools/(?P<pool>[^/]+)$", re.IGNORECASE)),
    ("pools", re.compile(_MC + r"/agentPools$", re.IGNORECASE)),
    ("cluster", re.compile(_MC + r"$", re.IGNORECASE)),
    (
        "operation",
        re.compile(
            r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.ContainerService/locations/(?P<loc>[^/]+)"
            r"/(?P<kind>operations|operationresults)/(?P<op>[^/]+)$",
            re.IGNORECASE,
        ),
    ),
    ("vmss_list", re.compile(_RG + r"/providers/Microsoft\.Compute/virtualMachineScaleSets$", re.IGNORECASE)),
    (
        "vm_list",
        re.compile(
            _RG + r"/providers/Microsoft\.Compute/virtualMachineScaleSets/(?P<vmss>[^/]+)/virtualMachines$",
            re.IGNORECASE,
        ),
    ),
]


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass
class Operation:
    id: str
    pool: str
    kind: str  # "create" or "delete"
    status: str = "InProgress"
    error: ArmError | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None
    task: asyncio.Task[None] | None = None

    def finish(self, status: str, error: ArmError | None = None) -> None:
        self.status = status
        self.error = error
        self.ended = datetime.now(UTC)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.id,
            "status": self.status,
            "startTime": self.started.isoformat(),
        }
        if self.ended is not None:
            body["endTime"] = self.ended.isoformat()
        if self.error is not None:
            body["error"] = {"code": self.error.code, "message": self.error.message}
        return body


@dataclass
class Pool:
    name: str
    properties: dict[str, Any]
    state: str = "Creating"
    operation: Operation | None = None
    vmss: str | None = None
    vm_ids: list[int] = field(default_factory=list)
    node_name: str | None = None


@dataclass
class EmulatorSettings:
    subscription_id: str = "00000000-0000-0000-0000-000000000001"
    resource_group: str = "rg-kaito"
    cluster_name: str = "kaito-cluster"
    location: str = "eastus"
    node_resource_group: str = "MC_rg-kaito_kaito-cluster_eastus"
    cluster_hash: str = "12345678"
    create_duration_s: float = 0.2
    delete_duration_s: float = 0.1
    # Retry-After on operation-status responses; None lets the client use its polling interval.
    lro_retry_after: int | None = None
    list_page_size: int = 100
    kubernetes_version: str = "1.30.6"
    # What the token endpoint expects as the workload-identity client assertion (the SA token).
    federated_token: str = "service-account-token"


class ArmEmulator:
    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        nodes: NodeRegistrar | None = None,
        instance_types: InstanceTypeLookup | None = None,
        workdir: Path | None = None,
        port: int = 0,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.nodes = nodes
        self._instance_types = instance_types or catalog_instance_types()
        self._workdir = workdir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.pools: dict[str, Pool] = {}
        self.operations: dict[str, Operation] = {}
        self.faults: list[Fault] = []
        # Asynchronous create failures by pool name or VM size: the LRO ends Failed with this error.
        self.create_failures: dict[str, ArmError] = {}
        # Every request served: (method, path, status). Tests assert on it (e.g. how many PUTs).
        self.requests: list[tuple[str, str, int]] = []
        self.pools_created = 0
        self.token_requests = 0
        # Most pools that ever existed at once: a duplicate would show here even if later cleaned up.
        self.max_pools = 0
        self._next_vm_id = 0
        self._runner: web.AppRunner | None = None
        self._port = port
        self.tls: TLSFiles | None = None
        self._changed: asyncio.Condition | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._port}"

    @property
    def ca_path(self) -> str:
        assert self.tls is not None, "emulator not started"
        return str(self.tls.ca_cert)

    async def start(self) -> ArmEmulator:
        if self._workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="armemulator-")
            self._workdir = Path(self._tmp.name)
        self.tls = await asyncio.to_thread(make_tls_files, self._workdir / "tls")
        self._changed = asyncio.Condition()
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, ssl_context=self.tls.server_context())
        await site.start()
        log.info("armemulator.started", url=self.url)
        return self

    async def stop(self) -> None:
        for op in self.operations.values():
            if op.task is not None and not op.task.done():
                op.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await op.task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> ArmEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def client_env(self, token_file: Path) -> dict[str, str]:
        """Environment for an unmodified gpu-provisioner (AKSConfig.from_env + DefaultAzureCredential via
        workload identity) to use this emulator. Writes the federated token to ``token_file``."""
        s = self.settings
        token_file.write_text(s.federated_token)
        return {
            "ARM_SUBSCRIPTION_ID": s.subscription_id,
            "ARM_RESOURCE_GROUP": s.resource_group,
            "AZURE_CLUSTER_NAME": s.cluster_name,
            "LOCATION": s.location,
            "AZURE_NODE_RESOURCE_GROUP": s.node_resource_group,
            "ARM_ENDPOINT": self.url,
            "ARM_CA_BUNDLE": self.ca_path,
            "AZURE_AUTHORITY_HOST": self.url,
            "AZURE_TENANT_ID": "72f988bf-0000-0000-0000-000000000000",
            "AZURE_CLIENT_ID": "00000000-0000-0000-0000-00000000c11d",
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        }

    # ---- test controls ----------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def count(self, method: str, path_regex: str = "") -> int:
        return sum(
            1 for m, p, _ in self.requests if m == method.upper() and re.search(path_regex, p, re.IGNORECASE)
        )

    async def vanish(self, pool_name: str) -> None:
        """The pool disappears behind the client's back (deleted in the portal, say), with its VM and Node."""
        pool = self.pools.pop(pool_name, None)
        if pool is None:
            return
        if pool.operation is not None and pool.operation.status == "InProgress":
            if pool.operation.task is not None:
                pool.operation.task.cancel()
            pool.operation.finish("Canceled", ArmError(200, "Canceled", "The agent pool was deleted."))
        await self._drop_node(pool)
        log.info("armemulator.vanished", pool=pool_name)

    def seed_pool(
        self, name: str, vm_size: str = "Standard_D4s_v3", tags: dict[str, str] | None = None
    ) -> Pool:
        """A pool that already exists (the system pool, or someone else's), with its VM but no Node."""
        pool = Pool(
            name=name,
            properties={"vmSize": vm_size, "count": 1, "mode": "System", "tags": dict(tags or {})},
            state="Succeeded",
            vmss=f"aks-{name}-{self.settings.cluster_hash}-vmss",
            vm_ids=[0],
        )
        self.pools[name] = pool
        return pool

    async def wait_until(self, predicate: Callable[[], bool], within_s: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every request and state change."""
        assert self._changed is not None, "emulator not started"
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within_s)

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def wait_idle(self, within_s: float = 10.0) -> None:
        """Wait until no operation is running (so teardown sees the final state)."""
        tasks = [op.task for op in self.operations.values() if op.task is not None and not op.task.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=within_s)
            assert not pending, f"{len(pending)} emulated operations still running after {within_s}s"

    # ---- HTTP plumbing ----------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await self._serve(request, handler)
        self.requests.append((request.method, request.path, response.status))
        await self._notify()
        return response

    async def _serve(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "POST" and _TOKEN_PATH.fullmatch(request.path):
            return await self._token(request)
        if request.headers.get("Authorization") != f"Bearer {FAKE_TOKEN}":
            return _error(
                ArmError(401, "AuthenticationFailed", "Authentication failed: no valid bearer token.")
            )
        fault = next((f for f in self.faults if f.matches(request.method, request.path)), None)
        if fault is not None:
            fault.hits += 1
            error = ArmError(fault.status, fault.code, fault.message, fault.retry_after)
            if not fault.after_apply:
                return _error(error)
            await handler(request)
            return _error(error)
        try:
            if "api-version" not in request.query:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required.",
                )
            return await handler(request)
        except ArmError as err:
            return _error(err)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        for name, pattern in _ROUTES:
            m = pattern.fullmatch(request.path)
            if m is None:
                continue
            groups = m.groupdict()
            self._check_scope(groups)
            handler = getattr(self, f"_{name}_{request.method.lower()}", None)
            if handler is None:
                raise ArmError(
                    405, "MethodNotAllowed", f"{request.method} is not supported on {request.path}"
                )
            result: web.StreamResponse = await handler(request, groups)
            return result
        raise ArmError(404, "InvalidResourceType", f"no emulated resource at {request.path}")

    def _check_scope(self, groups: dict[str, str]) -> None:
        s = self.settings
        if "sub" in groups and groups["sub"] != s.subscription_id:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{groups['sub']}' could not be found."
            )
        rg = groups.get("rg")
        if rg is not None and rg.lower() not in (s.resource_group.lower(), s.node_resource_group.lower()):
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        cluster = groups.get("cluster")
        if cluster is not None and (
            cluster != s.cluster_name or rg is None or rg.lower() != s.resource_group.lower()
        ):
            raise ArmError(
                404, "ResourceNotFound", f"The Resource 'managedClusters/{cluster}' was not found."
            )

    async def _token(self, request: web.Request) -> web.Response:
        """Entra ID's token endpoint for a federated (workload identity) client assertion."""
        form = await request.post()
        self.token_requests += 1
        ok = (
            form.get("grant_type") == "client_credentials"
            and form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            and form.get("client_assertion") == self.settings.federated_token
            and str(form.get("scope", "")).endswith("/.default")
        )
        if not ok:
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS700213: No matching federated identity",
                },
                status=401,
            )
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": FAKE_TOKEN}
        )

    # ---- ids and bodies ---------------------------------------------------------------------

    def _pool_id(self, name: str) -> str:
        s = self.settings
        return (
            f"/subscriptions/{s.subscription_id}/resourcegroups/{s.resource_group}/providers/"
            f"Microsoft.ContainerService/managedClusters/{s.cluster_name}/agentPools/{name}"
        )

    def _op_urls(self, op: Operation) -> tuple[str, str]:
        s = self.settings
        base = (
            f"{self.url}/subscriptions/{s.subscription_id}/providers/Microsoft.ContainerService"
            f"/locations/{s.location}"
        )
        return (
            f"{base}/operations/{op.id}?api-version=2016-03-30",
            f"{base}/operationresults/{op.id}?api-version=2016-03-30",
        )

    def _vmss_id(self, vmss: str) -> str:
        s = self.settings
        return (
            f"/subscriptions/{s.subscription_id}/resourceGroups/{s.node_resource_group}/providers/"
            f"Microsoft.Compute/virtualMachineScaleSets/{vmss}"
        )

    def _pool_body(self, pool: Pool) -> dict[str, Any]:
        props = dict(pool.properties)
        props["provisioningState"] = pool.state
        props.setdefault("count", 1)
        props.setdefault("mode", "User")
        props.setdefault("osType", "Linux")
        props.setdefault("type", "VirtualMachineScaleSets")
        props.setdefault("osDiskSizeGB", 128)
        props["orchestratorVersion"] = self.settings.kubernetes_version
        props["currentOrchestratorVersion"] = self.settings.kubernetes_version
        props["nodeImageVersion"] = "AKSUbuntu-2204gen2containerd-202411.12.0"
        props["powerState"] = {"code": "Running"}
        if pool.state == "Failed" and pool.operation is not None and pool.operation.error is not None:
            err = pool.operation.error
            props["status"] = {"provisioningError": {"code": err.code, "message": err.message}}
        return {
            "id": self._pool_id(pool.name),
            "name": pool.name,
            "type": "Microsoft.ContainerService/managedClusters/agentPools",
            "properties": props,
        }

    # ---- managed cluster --------------------------------------------------------------------

    async def _cluster_get(self, request: web.Request, g: dict[str, str]) -> web.Response:
        s = self.settings
        return _json(
            200,
            {
                "id": f"/subscriptions/{s.subscription_id}/resourcegroups/{s.resource_group}/providers/"
                f"Microsoft.ContainerService/managedClusters/{s.cluster_name}",
                "name": s.cluster_name,
                "type": "Microsoft.ContainerService/ManagedClusters",
                "location": s.location,
                "properties": {
                    "provisioningState": "Succeeded",
                    "kubernetesVersion": s.kubernetes_version,
                    "nodeResourceGroup": s.node_resource_group,
                },
            },
        )

    # ---- agent pools ------------------------------------------------------------------------

    async def _pool_get(self, request: web.Request, g: dict[str, str]) -> web.Response:
        pool = self.pools.get(g["pool"])
        if pool is None:
            raise ArmError(404, "NotFound", f"Agent Pool not found: agentpool {g['pool']} does not exist.")
        return _json(200, self._pool_body(pool))

    async def _pools_get(self, request: web.Request, g: dict[str, str]) -> web.Response:
        names = sorted(self.pools)
        skip = int(request.query.get("$skipToken", "0"))
        page = names[skip : skip + self.settings.list_page_size]
        body: dict[str, Any] = {"value": [self._pool_body(self.pools[n]) for n in page]}
        if skip + len(page) < len(names):
            body["nextLink"] = (
                f"{self.url}{request.path}?api-version=2026-08-01&$skipToken={skip + len(page)}"
            )
        return _json(200, body)

    async def _pool_put(self, request: web.Request, g: dict[str, str]) -> web.Response:
        name = g["pool"]
        if not _POOL_NAME.fullmatch(name):
            raise ArmError(
                400,
                "InvalidParameter",
                f"The value of parameter agentPoolProfile.name is invalid: {name}. Linux agent pool"
                " names must start with a lowercase letter, contain only lowercase letters and numbers,"
                " and be at most 12 characters long.",
            )
        try:
            body = await request.json()
        except json.JSONDecodeError as err:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid: {err}") from err
        props = dict(body.get("properties") or {})
        self._validate(name, props)
        existing = self.pools.get(name)
        if existing is not None:
            if existing.operation is not None and existing.operation.status == "InProgress":
                verb = "create" if existing.operation.kind == "create" else "delete"
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"Operation is not allowed because there's an in progress {verb} node pool operation"
                    f" for agent pool {name}. Please wait for it to finish before starting a new operation.",
                )
            if str(existing.properties.get("vmSize", "")).lower() != str(props["vmSize"]).lower():
                raise ArmError(400, "PropertyChangeNotAllowed", "Changing property 'vmSize' is not allowed.")
            # An update (or a re-PUT of a Failed pool) reconciles the pool again.
            existing.properties = props
            existing.state = "Updating" if existing.state == "Succeeded" else "Creating"
            op = self._start(existing, "create")
            return self._lro_response(200, existing, op)
        pool = Pool(name=name, properties=props)
        self.pools[name] = pool
        self.pools_created += 1
        self.max_pools = max(self.max_pools, len(self.pools))
        op = self._start(pool, "create")
        log.info("armemulator.pool_create", pool=name, vm_size=props.get("vmSize"))
        return self._lro_response(201, pool, op)

    async def _pool_delete(self, request: web.Request, g: dict[str, str]) -> web.Response:
        pool = self.pools.get(g["pool"])
        if pool is None:
            return web.Response(status=204)
        op = pool.operation
        if op is not None and op.status == "InProgress":
            if op.kind == "delete":
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    "Operation is not allowed because there's an in progress delete node pool operation.",
                )
            # Deleting a pool that is still being created cancels the create.
            if op.task is not None:
                op.task.cancel()
            op.finish("Canceled", ArmError(200, "Canceled", "The operation was canceled by a delete."))
        pool.state = "Deleting"
        new_op = self._start(pool, "delete")
        status_url, location_url = self._op_urls(new_op)
        headers = {"Azure-AsyncOperation": status_url, "Location": location_url}
        if self.settings.lro_retry_after is not None:
            headers["Retry-After"] = str(self.settings.lro_retry_after)
        return web.Response(status=202, headers=headers)

    def _validate(self, name: str, props: dict[str, Any]) -> None:
        vm_size = props.get("vmSize")
        if not vm_size:
            raise ArmError(
                400, "InvalidParameter", "The value of parameter agentPoolProfile.vmSize is required."
            )
        if props.get("count", 1) != 1:
            raise ArmError(400, "InvalidParameter", "The emulator serves single-node pools only (count=1).")
        disk = props.get("osDiskSizeGB")
        if disk is not None and not (30 <= int(disk) <= 2048):
            raise ArmError(
                400, "InvalidParameter", f"The value of parameter osDiskSizeGB is invalid: {disk} (30-2048)."
            )
        if props.get("type", "VirtualMachineScaleSets") != "VirtualMachineScaleSets":
            raise ArmError(400, "InvalidParameter", f"Agent pool type {props.get('type')} is not supported.")
        if props.get("mode", "User") not in ("User", "System"):
            raise ArmError(400, "InvalidParameter", f"Agent pool mode {props.get('mode')} is invalid.")

    def _lro_response(self, status: int, pool: Pool, op: Operation) -> web.Response:
        status_url, _ = self._op_urls(op)
        headers = {"Azure-AsyncOperation": status_url}
        if self.settings.lro_retry_after is not None:
            headers["Retry-After"] = str(self.settings.lro_retry_after)
        return _json(status, self._pool_body(pool), headers)

    # ---- operations -------------------------------------------------------------------------

    def _start(self, pool: Pool, kind: str) -> Operation:
        op = Operation(id=str(uuid.uuid4()), pool=pool.name, kind=kind)
        self.operations[op.id] = op
        pool.operation = op
        runner = self._run_create if kind == "create" else self._run_delete
        op.task = asyncio.get_running_loop().create_task(self._notifying(runner(pool, op)))
        return op

    async def _notifying(self, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            await asyncio.shield(self._notify())

    async def _run_create(self, pool: Pool, op: Operation) -> None:
        await asyncio.sleep(self.settings.create_duration_s)
        if self.pools.get(pool.name) is not pool:
            op.finish("Canceled", ArmError(200, "Canceled", "The agent pool no longer exists."))
            return
        vm_size = str(pool.properties.get("vmSize", ""))
        failure = self.create_failures.get(pool.name) or self.create_failures.get(vm_size)
        if failure is not None:
            pool.state = "Failed"
            op.finish("Failed", failure)
            log.info("armemulator.pool_failed", pool=pool.name, code=failure.code)
            return
        if pool.vmss is None:
            pool.vmss = f"aks-{pool.name}-{self.settings.cluster_hash}-vmss"
            pool.vm_ids = [0]
        if self.nodes is not None and pool.node_name is None:
            node = self._node_body(pool)
            await self.nodes.register(node)
            pool.node_name = node["metadata"]["name"]
        pool.state = "Succeeded"
        op.finish("Succeeded")
        log.info("armemulator.pool_succeeded", pool=pool.name, node=pool.node_name)

    async def _run_delete(self, pool: Pool, op: Operation) -> None:
        await asyncio.sleep(self.settings.delete_duration_s)
        await self._drop_node(pool)
        if self.pools.get(pool.name) is pool:
            del self.pools[pool.name]
        op.finish("Succeeded")
        log.info("armemulator.pool_deleted", pool=pool.name)

    async def _drop_node(self, pool: Pool) -> None:
        if self.nodes is not None and pool.node_name is not None:
            await self.nodes.unregister(pool.node_name)
        pool.node_name = None
        pool.vmss = None
        pool.vm_ids = []

    async def _operation_get(self, request: web.Request, g: dict[str, str]) -> web.Response:
        op = self.operations.get(g["op"])
        if op is None:
            raise ArmError(404, "NotFound", f"Operation {g['op']} not found.")
        headers = {}
        if self.settings.lro_retry_after is not None and op.status == "InProgress":
            headers["Retry-After"] = str(self.settings.lro_retry_after)
        if g["kind"].lower() == "operationresults":
            if op.status == "InProgress":
                return web.Response(status=202, headers={**headers, "Location": str(request.url)})
            if op.error is not None and op.status != "Succeeded":
                raise op.error if op.error.status >= 400 else ArmError(400, op.error.code, op.error.message)
            return web.Response(status=204)
        return _json(200, op.body(), headers)

    # ---- compute ----------------------------------------------------------------------------

    def _node_rg_only(self, g: dict[str, str]) -> None:
        if g["rg"].lower() != self.settings.node_resource_group.lower():
            raise ArmError(404, "ResourceNotFound", "No scale sets in this resource group.")

    async def _vmss_list_get(self, request: web.Request, g: dict[str, str]) -> web.Response:
        self._node_rg_only(g)
        value = []
        for pool in self.pools.values():
            if pool.vmss is None:
                continue
            tags = dict(pool.properties.get("tags") or {})
            tags.update({"aks-managed-poolName": pool.name, "aks-managed-orchestrator": "Kubernetes"})
            value.append(
                {
                    "id": self._vmss_id(pool.vmss),
                    "name": pool.vmss,
                    "type": "Microsoft.Compute/virtualMachineScaleSets",
                    "location": self.settings.location,
                    "tags": tags,
                    "sku": {
                        "name": pool.properties.get("vmSize"),
                        "tier": "Standard",
                        "capacity": len(pool.vm_ids),
                    },
                    "properties": {"provisioningState": "Succeeded"},
                }
            )
        return _json(200, {"value": value})

    async def _vm_list_get(self, request: web.Request, g: dict[str, str]) -> web.Response:
        self._node_rg_only(g)
        pool = next((p for p in self.pools.values() if p.vmss == g["vmss"]), None)
        if pool is None or pool.vmss is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{g['vmss']}' was not found.",
            )
        value = [
            {
                "id": f"{self._vmss_id(pool.vmss)}/virtualMachines/{i}",
                "name": f"{pool.vmss}_{i}",
                "instanceId": str(i),
                "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
                "location": self.settings.location,
                "sku": {"name": pool.properties.get("vmSize"), "tier": "Standard"},
                "properties": {
                    "provisioningState": "Succeeded",
                    "osProfile": {"computerName": _computer_name(pool.vmss, i)},
                },
            }
            for i in pool.vm_ids
        ]
        return _json(200, {"value": value})

    # ---- the Node AKS would register --------------------------------------------------------

    def provider_id(self, pool: Pool, instance: int = 0) -> str:
        assert pool.vmss is not None
        s = self.settings
        return (
            f"azure:///subscriptions/{s.subscription_id}/resourceGroups/{s.node_resource_group.lower()}/providers/"
            f"Microsoft.Compute/virtualMachineScaleSets/{pool.vmss}/virtualMachines/{instance}"
        )

    def _node_body(self, pool: Pool) -> dict[str, Any]:
        assert pool.vmss is not None
        s = self.settings
        name = _computer_name(pool.vmss, pool.vm_ids[0])
        vm_size = str(pool.properties.get("vmSize", ""))
        info = self._instance_types(vm_size)
        labels = {
            "kubernetes.azure.com/agentpool": pool.name,
            "agentpool": pool.name,
            "kubernetes.azure.com/cluster": s.node_resource_group,
            "kubernetes.azure.com/mode": str(pool.properties.get("mode", "User")).lower(),
            "node.kubernetes.io/instance-type": vm_size,
            "beta.kubernetes.io/instance-type": vm_size,
            "topology.kubernetes.io/region": s.location,
            "topology.kubernetes.io/zone": "0",
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "type": "kwok",
        }
        labels.update(pool.properties.get("nodeLabels") or {})
        taints = [_parse_taint(t) for t in pool.properties.get("nodeTaints") or []]
        taints.append(dict(KWOK_TAINT))
        disk = int(pool.properties.get("osDiskSizeGB") or 128)
        if info is not None:
            capacity = info.capacity(disk)
        else:
            capacity = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": f"{disk}Gi"}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": {KWOK_ANNOTATION: "fake"}},
            "spec": {"providerID": self.provider_id(pool, pool.vm_ids[0]), "taints": taints},
            "status": {"capacity": capacity, "allocatable": dict(capacity)},
        }


def _computer_name(vmss: str, instance: int) -> str:
    # VMSS computer names are the prefix plus the instance id in base 36, six digits.
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    n = instance
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            break
    return f"{vmss}{out.rjust(6, '0')}"


def _parse_taint(text: str) -> dict[str, str]:
    head, _, effect = text.rpartition(":")
    key, _, value = head.partition("=")
    return {"key": key, "value": value, "effect": effect}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _error(err: ArmError) -> web.Response:
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = (
            str(int(err.retry_after)) if float(err.retry_after).is_integer() else str(err.retry_after)
        )
    return _json(err.status, {"error": {"code": err.code, "message": err.message}}, headers)
