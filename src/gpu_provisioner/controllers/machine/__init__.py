"""The Machine lifecycle: launch, registration, initialization, liveness and termination."""

from gpu_provisioner.controllers.machine.context import Deps
from gpu_provisioner.controllers.machine.lifecycle import MachineLifecycle
from gpu_provisioner.controllers.machine.settings import LifecycleSettings

__all__ = ["Deps", "LifecycleSettings", "MachineLifecycle"]
