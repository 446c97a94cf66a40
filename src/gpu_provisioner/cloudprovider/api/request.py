"""What a Machine asks the cloud for, in the cloud layer's own terms (no dependency on kaito.api)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gpu_provisioner.cloudprovider.api.errors import InvalidRequestError


class TaintEffect(enum.StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    effect: TaintEffect
    value: str = ""

    def to_aks(self) -> str:
        """AKS takes taints as ``key=value:Effect`` strings; the value may be empty."""
        return f"{self.key}={self.value}:{self.effect.value}"

    @classmethod
    def parse(cls, text: str) -> Taint:
        """Inverse of :meth:`to_aks`; also accepts ``key:Effect`` as kubectl does."""
        head, sep, effect = text.rpartition(":")
        if not sep or not head:
            raise InvalidRequestError(f"taint {text!r} is not of the form key=value:Effect")
        key, _, value = head.partition("=")
        try:
            return cls(key=key, value=value, effect=TaintEffect(effect))
        except ValueError as err:
            raise InvalidRequestError(f"taint {text!r} has unknown effect {effect!r}") from err


def _frozen(labels: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(labels))


@dataclass(frozen=True, slots=True)
class NodeRequest:
    """One Machine's demand for exactly one node.

    ``name`` is the Machine's name; the cloud resource name is derived from it deterministically
    (see :mod:`gpu_provisioner.cloudprovider.naming`), so a repeated create finds and adopts
    what an earlier attempt (or an earlier process) already made.
    """

    name: str
    instance_type: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    # GiB. None leaves the cloud's default; upstream once sent bytes cast to int32 (#233), hence a plain int.
    os_disk_gb: int | None = None
    # "Ubuntu" or "AzureLinux"; None lets AKS choose.
    image_family: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidRequestError("machine name is empty")
        if not self.instance_type:
            raise InvalidRequestError(f"machine {self.name} has no requirement for instance type")
        if self.os_disk_gb is not None and self.os_disk_gb <= 0:
            raise InvalidRequestError(
                f"storage request of machine {self.name} should be more than 0, got {self.os_disk_gb}GiB"
            )
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "taints", tuple(self.taints))
