"""The two kinds the provisioner touches."""

from __future__ import annotations

from kaito.api.constants import KARPENTER_GROUP, MACHINE_KIND, MACHINE_PLURAL, MACHINE_VERSION
from kaito.runtime.client.kind import Kind
from kaito.runtime.client.kinds import NODE

MACHINE = Kind(KARPENTER_GROUP, MACHINE_VERSION, MACHINE_KIND, MACHINE_PLURAL, namespaced=False)

__all__ = ["MACHINE", "NODE"]
