"""Long cloud operations run as tracked background tasks that reconciles poll."""

from gpu_provisioner.controllers.operations.tracker import OperationTracker, Outcome, Pending

__all__ = ["OperationTracker", "Outcome", "Pending"]
