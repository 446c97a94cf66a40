"""The controllers' narrow view of the apiserver, and its adapter onto kaito.runtime."""

from gpu_provisioner.controllers.kube.kinds import MACHINE, NODE
from gpu_provisioner.controllers.kube.ports import KubeOps

__all__ = ["MACHINE", "NODE", "KubeOps"]
