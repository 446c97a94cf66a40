"""A real local Kubernetes control plane (etcd, apiserver, controller-manager, scheduler, kwok)."""

from e2e.cluster.localcluster import ClusterError, LocalCluster

__all__ = ["ClusterError", "LocalCluster"]
