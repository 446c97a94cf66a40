"""The gpu-provisioner's controllers: Machine lifecycle and garbage collection on kaito.runtime."""

from gpu_provisioner.controllers.machine import Deps, LifecycleSettings, MachineLifecycle
from gpu_provisioner.controllers.setup import Provisioner, add_to_manager

__all__ = ["Deps", "LifecycleSettings", "MachineLifecycle", "Provisioner", "add_to_manager"]
