"""The kinds the workspace controller reads and writes."""

from __future__ import annotations

from kaito.api.constants import (
    KAITO_GROUP,
    KARPENTER_GROUP,
    MACHINE_KIND,
    MACHINE_PLURAL,
    MACHINE_VERSION,
    WORKSPACE_KIND,
    WORKSPACE_PLURAL,
    WORKSPACE_VERSION,
)
from kaito.runtime.client import Kind
from kaito.runtime.client import kinds as builtin

WORKSPACE = Kind(KAITO_GROUP, WORKSPACE_VERSION, WORKSPACE_KIND, WORKSPACE_PLURAL)
MACHINE = Kind(KARPENTER_GROUP, MACHINE_VERSION, MACHINE_KIND, MACHINE_PLURAL, namespaced=False)
NODE = builtin.NODE
POD = builtin.POD
CONFIGMAP = builtin.CONFIGMAP
SERVICE = builtin.SERVICE
DEPLOYMENT = builtin.DEPLOYMENT
STATEFULSET = builtin.STATEFULSET
JOB = builtin.JOB
CONTROLLER_REVISION = builtin.CONTROLLER_REVISION
