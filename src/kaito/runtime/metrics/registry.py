"""All metric families the runtime exports, registered on a private registry.

A registry per Manager (instead of prometheus_client's global one) lets tests run several managers
in one process. Names, labels and buckets follow controller-runtime v0.24 so existing dashboards work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.process_collector import ProcessCollector

# controller-runtime's reconcile_time_seconds buckets.
RECONCILE_TIME_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05,
    0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
    0.6, 0.7, 0.8, 0.9, 1.0,
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0,
    6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
)  # fmt: skip
# ExponentialBuckets(10e-9, 10, 12): 1e-8 .. 1e3 seconds.
WORKQUEUE_DURATION_BUCKETS: tuple[float, ...] = tuple(1e-8 * 10**i for i in range(12))

RECONCILE_RESULTS = ("success", "error", "requeue", "requeue_after")


@dataclass(frozen=True)
class QueueMetrics:
    """The label-bound children one work queue writes to."""

    depth: Gauge
    adds: Counter
    queue_duration: Histogram
    work_duration: Histogram
    retries: Counter
    unfinished_work: Gauge
    longest_running: Gauge


class RuntimeMetrics:
    """Holds every collector on ``self.registry``; pass it to queues, clients and controllers."""

    def __init__(self, registry: CollectorRegistry | None = None, process_collector: bool = True) -> None:
        # controller-runtime exports no ``*_created`` series; neither do we (a process-wide switch).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process_collector:
            ProcessCollector(registry=r)
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors_total = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=r,
        )
        self.terminal_reconcile_errors_total = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            ["controller"],
            registry=r,
        )
        self.reconcile_panics_total = Counter(
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics (unexpected exceptions) per controller",
            ["controller"],
            registry=r,
        )
        self.reconcile_time_seconds = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            buckets=RECONCILE_TIME_BUCKETS,
            registry=r,
        )
        self.max_concurrent_reconciles = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"],
            registry=r,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
            registry=r,
        )
        qlabels = ["name", "controller"]
        self.workqueue_depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", [*qlabels, "priority"], registry=r
        )
        self.workqueue_adds_total = Counter(
            "workqueue_adds_total", "Total number of adds handled by workqueue", qlabels, registry=r
        )
        self.workqueue_queue_duration_seconds = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            qlabels,
            buckets=WORKQUEUE_DURATION_BUCKETS,
            registry=r,
        )
        self.workqueue_work_duration_seconds = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            qlabels,
            buckets=WORKQUEUE_DURATION_BUCKETS,
            registry=r,
        )
        self.workqueue_retries_total = Counter(
            "workqueue_retries_total", "Total number of retries handled by workqueue", qlabels, registry=r
        )
        self.workqueue_unfinished_work_seconds = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.",
            qlabels,
            registry=r,
        )
        self.workqueue_longest_running_processor_seconds = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running",
            qlabels,
            registry=r,
        )
        self.rest_client_requests_total = Counter(
            "rest_client_requests_total",
            "Number of HTTP requests, partitioned by status code, method, and host",
            ["code", "method", "host"],
            registry=r,
        )
        # client-go's rest client latency histograms: same names, labels and buckets.
        self.rest_client_request_duration_seconds, self.rest_client_rate_limiter_duration_seconds = (
            Histogram(
                name,
                f"{what} latency in seconds. Broken down by verb, and host.",
                ["verb", "host"],
                buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
                registry=r,
            )
            for name, what in (
                ("rest_client_request_duration_seconds", "Request"),
                ("rest_client_rate_limiter_duration_seconds", "Client side rate limiter"),
            )
        )
        self.leader_election_master_status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
            "1 indicates master. 'name' is the string used to identify the lease.",
            ["name"],
            registry=r,
        )

    def init_controller(self, controller: str, max_concurrent: int) -> None:
        """Pre-sets a controller's series to zero, as controller-runtime does, so they show up at once."""
        for result in RECONCILE_RESULTS:
            self.reconcile_total.labels(controller=controller, result=result)
        self.reconcile_errors_total.labels(controller=controller)
        self.terminal_reconcile_errors_total.labels(controller=controller)
        self.reconcile_panics_total.labels(controller=controller)
        self.reconcile_time_seconds.labels(controller=controller)
        self.max_concurrent_reconciles.labels(controller=controller).set(max_concurrent)
        self.active_workers.labels(controller=controller).set(0)

    def queue(
        self,
        name: str,
        unfinished: Callable[[], float],
        longest: Callable[[], float],
    ) -> QueueMetrics:
        """Binds the workqueue families to one queue; the two gauges are computed at scrape time."""
        unfinished_child = self.workqueue_unfinished_work_seconds.labels(name=name, controller=name)
        unfinished_child.set_function(unfinished)
        longest_child = self.workqueue_longest_running_processor_seconds.labels(name=name, controller=name)
        longest_child.set_function(longest)
        return QueueMetrics(
            depth=self.workqueue_depth.labels(name=name, controller=name, priority=""),
            adds=self.workqueue_adds_total.labels(name=name, controller=name),
            queue_duration=self.workqueue_queue_duration_seconds.labels(name=name, controller=name),
            work_duration=self.workqueue_work_duration_seconds.labels(name=name, controller=name),
            retries=self.workqueue_retries_total.labels(name=name, controller=name),
            unfinished_work=unfinished_child,
            longest_running=longest_child,
        )
