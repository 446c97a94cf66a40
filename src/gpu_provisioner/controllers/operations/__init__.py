"""Long cloud operations run as tracked background tasks that reconciles poll."""

from gpu_provisioner.controllers.operations.tracker import (
    CREATE,
    DELETE,
    GC_DELETE,
    OperationTracker,
    Outcome,
    Pending,
)

__all__ = ["CREATE", "DELETE", "GC_DELETE", "OperationTracker", "Outcome", "Pending"]
