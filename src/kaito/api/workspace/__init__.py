"""The Workspace API (kaito.sh/v1alpha1)."""

from kaito.api.workspace.types import (
    DEFAULT_INSTANCE_TYPE,
    AccessMode,
    AdapterSpec,
    DataDestination,
    DataSource,
    InferenceSpec,
    PresetOptions,
    PresetSpec,
    ResourceSpec,
    TuningMethod,
    TuningSpec,
    Workspace,
    WorkspaceList,
    WorkspaceState,
    WorkspaceStatus,
)

__all__ = [
    "DEFAULT_INSTANCE_TYPE",
    "AccessMode",
    "AdapterSpec",
    "DataDestination",
    "DataSource",
    "InferenceSpec",
    "PresetOptions",
    "PresetSpec",
    "ResourceSpec",
    "TuningMethod",
    "TuningSpec",
    "Workspace",
    "WorkspaceList",
    "WorkspaceState",
    "WorkspaceStatus",
]
