"""The Manager, its options, leader election and HTTP endpoints."""

from kaito.runtime.manager.leaderelection import LeaderElector
from kaito.runtime.manager.manager import LeaderElectionLost, Manager, RunnableFailed, run_manager
from kaito.runtime.manager.options import ManagerOptions
from kaito.runtime.manager.runnable import Runnable

__all__ = [
    "LeaderElectionLost",
    "LeaderElector",
    "Manager",
    "ManagerOptions",
    "Runnable",
    "RunnableFailed",
    "run_manager",
]
