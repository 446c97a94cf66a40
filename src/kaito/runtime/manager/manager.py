"""The Manager: owns the client, the shared cache, controllers, runnables, leader election, probes and
metrics, and runs them in controller-runtime's order.

Start: HTTP servers (metrics, probes) → caches, waiting for sync (``/readyz`` turns 200) → runnables that
do not need leadership → leader election → controllers and leader-only runnables.

Stop (``stop()``, SIGTERM or SIGINT): controllers stop taking work and in-flight reconciles get up to
``graceful_shutdown_timeout`` → runnables are cancelled → event recorders flush → caches stop → the
lease is released → servers close. :meth:`Manager.run` then returns. A second signal exits with status 1.

Losing the lease cancels every reconcile at once and makes :meth:`Manager.run` raise
:class:`LeaderElectionLost`, so the process exits non-zero (controller-runtime does the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import structlog

from kaito.runtime.cache.cache import Cache
from kaito.runtime.client.client import Client
from kaito.runtime.client.connection import connect
from kaito.runtime.client.transport import Transport
from kaito.runtime.controller.builder import Builder
from kaito.runtime.controller.controller import Controller
from kaito.runtime.events.recorder import EventRecorder
from kaito.runtime.manager.leaderelection import LeaderElector
from kaito.runtime.manager.options import ManagerOptions
from kaito.runtime.manager.runnable import Runnable, RunnableSpec
from kaito.runtime.manager.servers import HttpServer, health_app, metrics_app, parse_bind_address
from kaito.runtime.metrics.registry import RuntimeMetrics

_log = structlog.get_logger("kaito.runtime.manager")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class LeaderElectionLost(RuntimeError):
    """Raised by :meth:`Manager.run` when this replica lost its leader lease; the process should exit."""


class RunnableFailed(RuntimeError):
    """Raised by :meth:`Manager.run` when a runnable returned or raised while the manager was running."""


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class Manager:
    """Runs informers, controllers and runnables; see the module docstring for the lifecycle.

    Attributes:
        client: the writing client (reads for reconcilers should come from :attr:`cache`).
        cache: the shared informer cache.
        metrics: this manager's metric families and registry (served on ``/metrics``).
        elected: set once this replica leads (at once without leader election).
    """

    def __init__(self, options: ManagerOptions | None = None) -> None:
        self.options = options or ManagerOptions()
        opts = self.options
        self._metrics = RuntimeMetrics()
        factory = (
            None
            if opts.api_client is not None
            else (
                lambda: connect(
                    opts.kubeconfig, opts.context, use_kubernetes_asyncio=opts.use_kubernetes_asyncio
                )
            )
        )
        transport = Transport(
            opts.api_client,
            qps=opts.qps,
            burst=opts.burst,
            metrics=self._metrics,
            connect=factory,
            owns_connection=opts.api_client is None,
            user_agent=f"kaito-runtime/{opts.field_manager}",
        )
        self.client = Client(transport, field_manager=opts.field_manager)
        self._cache = Cache(self.client, opts.cache)
        self.identity = opts.leader_election_identity or default_identity()
        self.elected = asyncio.Event()
        self.metrics_port = 0
        self.health_port = 0
        self._controllers: dict[str, Controller] = {}
        self._runnables: list[RunnableSpec] = []
        self._runnable_tasks: dict[str, asyncio.Task[None]] = {}
        self._recorders: dict[str, EventRecorder] = {}
        self._healthz: dict[str, Callable[[], bool]] = {"ping": lambda: True}
        self._readyz: dict[str, Callable[[], bool]] = {"cache-sync": lambda: self._caches_synced}
        self._caches_synced = False
        self._stop = asyncio.Event()
        self._stopping = False
        self._leading = False
        self._lost = False
        self._failure: BaseException | None = None
        self._elector: LeaderElector | None = None
        self._running = False

    # -- ControllerHost ------------------------------------------------------------------------------

    @property
    def cache(self) -> Cache:
        return self._cache

    @property
    def metrics(self) -> RuntimeMetrics:
        return self._metrics

    def add_controller(self, controller: Controller) -> None:
        """Registers a controller (the builder does this). Names must be unique: they label metrics."""
        if controller.name in self._controllers:
            raise ValueError(f"a controller named {controller.name!r} already exists")
        self._controllers[controller.name] = controller
        if self._leading and not self._stopping:
            controller.start()

    # -- setup ---------------------------------------------------------------------------------------

    def controller(self, name: str) -> Builder:
        """Starts building a controller: ``.for_(kind).owns(kind).watches(kind, mapper).complete(r)``."""
        return Builder(self, name)

    @property
    def controllers(self) -> dict[str, Controller]:
        return dict(self._controllers)

    def add(self, runnable: Runnable, *, needs_leader: bool = True, name: str | None = None) -> None:
        """Adds a long-running async function, cancelled on shutdown. ``needs_leader=False`` runs it on
        every replica as soon as caches have synced (e.g. a webhook server); ``True`` only on the leader."""
        spec = RunnableSpec(name or str(getattr(runnable, "__name__", "runnable")), runnable, needs_leader)
        self._runnables.append(spec)
        if (
            self._running
            and not self._stopping
            and (not needs_leader or self._leading)
            and self._caches_synced
        ):
            self._start_runnable(spec)

    def add_healthz_check(self, name: str, check: Callable[[], bool]) -> None:
        self._healthz[name] = check

    def add_readyz_check(self, name: str, check: Callable[[], bool]) -> None:
        self._readyz[name] = check

    def event_recorder(self, component: str) -> EventRecorder:
        """The (shared) Event recorder for ``component``."""
        recorder = self._recorders.get(component)
        if recorder is None:
            # Events get a token bucket of their own (controller-runtime's recorder builds its own
            # client for the same reason): a burst of Events must not delay the reconcilers' writes.
            events_client = self.client.with_rate_limit(self.options.qps, self.options.burst)
            recorder = EventRecorder(events_client, component)
            self._recorders[component] = recorder
        return recorder

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def ready(self) -> bool:
        return self._caches_synced

    # -- lifecycle -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Asks :meth:`run` to shut down gracefully (safe to call from signal handlers and callbacks)."""
        self._stop.set()

    def _on_signal(self, signum: int) -> None:
        if self._stop.is_set():
            _log.error("second signal received, exiting immediately", signal=signum)
            os._exit(1)
        _log.info("signal received, shutting down", signal=signal.Signals(signum).name)
        self.stop()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed: list[int] = []
        if not self.options.handle_signals:
            return installed
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, int(sig))
                installed.append(int(sig))
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        return installed

    def _start_runnable(self, spec: RunnableSpec) -> None:
        if spec.name in self._runnable_tasks:
            spec.name = f"{spec.name}-{len(self._runnable_tasks)}"
        task = asyncio.create_task(spec.func(), name=f"runnable:{spec.name}")
        self._runnable_tasks[spec.name] = task

        def done(t: asyncio.Task[None]) -> None:
            if t.cancelled() or self._stopping:
                return
            exc = t.exception()
            _log.error("runnable ended unexpectedly; stopping", runnable=spec.name, error=repr(exc))
            self._failure = RunnableFailed(f"runnable {spec.name} ended: {exc!r}")
            self.stop()

        task.add_done_callback(done)

    def _start_leader_work(self) -> None:
        if self._stopping:
            return
        self._leading = True
        self.elected.set()
        for controller in self._controllers.values():
            controller.start()
        for spec in self._runnables:
            if spec.needs_leader:
                self._start_runnable(spec)

    def _on_lost_lease(self) -> None:
        if self._stopping:
            return
        _log.error("leader election lost; stopping reconciles now")
        self._lost = True
        self._leading = False
        # Stop reconciling at once: no grace period for in-flight work.
        for controller in self._controllers.values():
            controller.abort()
        for spec in self._runnables:
            runnable_task = self._runnable_tasks.get(spec.name)
            if spec.needs_leader and runnable_task is not None:
                runnable_task.cancel()
        self.stop()

    def _lease_namespace(self) -> str:
        if self.options.leader_election_namespace:
            return self.options.leader_election_namespace
        with contextlib.suppress(OSError):
            return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
        return "default"

    async def run(self) -> None:
        """Runs until :meth:`stop`, a signal, a lost lease or a failed runnable; see the module docs.

        Raises :class:`LeaderElectionLost` after losing the lease, :class:`RunnableFailed` if a runnable
        ended, ``TimeoutError`` if caches did not sync in ``cache_sync_timeout``."""
        if self._running:
            raise RuntimeError("manager is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        opts = self.options
        servers: list[HttpServer] = []
        signals: list[int] = []
        elector_task: asyncio.Task[None] | None = None
        try:
            await self.client.transport.connect()
            metrics_addr = parse_bind_address(opts.metrics_bind_address)
            if metrics_addr is not None:
                server = HttpServer(metrics_app(self._metrics.registry), metrics_addr)
                await server.start()
                servers.append(server)
                self.metrics_port = server.port
            health_addr = parse_bind_address(opts.health_probe_bind_address)
            if health_addr is not None:
                server = HttpServer(health_app(self._healthz, self._readyz), health_addr)
                await server.start()
                servers.append(server)
                self.health_port = server.port
            signals = self._install_signals(loop)
            _log.info("starting manager", metrics_port=self.metrics_port, health_port=self.health_port)

            self._cache.start()
            stop_wait = asyncio.create_task(self._stop.wait())
            sync_wait = asyncio.create_task(self._cache.wait_for_sync(opts.cache_sync_timeout))
            try:
                await asyncio.wait({stop_wait, sync_wait}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop_wait.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stop_wait
            if not sync_wait.done():
                sync_wait.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sync_wait
            elif not sync_wait.result():
                raise TimeoutError(f"caches did not sync within {opts.cache_sync_timeout}s")
            else:
                self._caches_synced = True
                _log.info("caches synced")

            if not self._stop.is_set():
                for spec in self._runnables:
                    if not spec.needs_leader:
                        self._start_runnable(spec)
                if opts.leader_elect:
                    if not opts.leader_election_id:
                        raise ValueError("leader_election_id is required with leader_elect")
                    self._elector = LeaderElector(
                        self.client,
                        opts.leader_election_id,
                        self._lease_namespace(),
                        self.identity,
                        lease_duration=opts.lease_duration,
                        renew_deadline=opts.renew_deadline,
                        retry_period=opts.retry_period,
                        metrics=self._metrics,
                        on_started_leading=self._start_leader_work,
                        on_stopped_leading=self._on_lost_lease,
                    )
                    elector_task = asyncio.create_task(self._elector.run(), name="leader-election")
                else:
                    self._start_leader_work()
                await self._stop.wait()
        finally:
            await self._shutdown(elector_task, servers, signals, loop)
        if self._lost:
            raise LeaderElectionLost(f"lost leader lease {opts.leader_election_id}")
        if self._failure is not None:
            raise self._failure

    async def _shutdown(
        self,
        elector_task: asyncio.Task[None] | None,
        servers: list[HttpServer],
        signals: list[int],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._stopping = True
        grace = 0.0 if self._lost else self.options.graceful_shutdown_timeout
        _log.info("shutting down", grace_seconds=grace)
        results = await asyncio.gather(*(c.stop(grace) for c in self._controllers.values()))
        if not all(results):
            _log.warning("some reconciles did not finish within the graceful shutdown timeout")
        tasks = list(self._runnable_tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._runnable_tasks.clear()
        for recorder in self._recorders.values():
            await recorder.flush(timeout=2.0)
            await recorder.close()
        await self._cache.stop()
        was_leader = self._leading
        if elector_task is not None:
            elector_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await elector_task
        if (
            self._elector is not None
            and was_leader
            and not self._lost
            and self.options.release_lease_on_shutdown
        ):
            await self._elector.release()
        self._leading = False
        for server in servers:
            await server.stop()
        for sig in signals:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await self.client.close()
        _log.info("manager stopped")


def run_manager(manager: Manager) -> int:
    """Runs ``manager`` in a new event loop and returns the process exit code: 0 after a graceful stop,
    1 after losing the lease or any failure. Intended for ``sys.exit(run_manager(mgr))`` in binaries."""
    try:
        asyncio.run(manager.run())
    except LeaderElectionLost:
        return 1
    except Exception:
        _log.exception("manager failed")
        return 1
    return 0
