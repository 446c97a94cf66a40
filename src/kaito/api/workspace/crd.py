"""CRD facts for the Workspace: names, scope and the `kubectl get workspace` columns."""

from __future__ import annotations

from kaito.api import constants as c
from kaito.api.crdgen.crd import CRDDefinition, PrinterColumn
from kaito.api.workspace.types import Workspace


def _condition_column(name: str, condition_type: str) -> PrinterColumn:
    return PrinterColumn(
        name=name,
        json_path=f'.status.conditions[?(@.type=="{condition_type}")].status',
        description=f"Status of the {condition_type} condition.",
    )


WORKSPACE_CRD = CRDDefinition(
    group=c.KAITO_GROUP,
    version=c.WORKSPACE_VERSION,
    kind=c.WORKSPACE_KIND,
    list_kind=c.WORKSPACE_LIST_KIND,
    plural=c.WORKSPACE_PLURAL,
    singular=c.WORKSPACE_SINGULAR,
    scope="Namespaced",
    short_names=c.WORKSPACE_SHORT_NAMES,
    categories=("workspace",),
    model=Workspace,
    printer_columns=(
        PrinterColumn("Instance", ".resource.instanceType", description="Instance type of the GPU nodes."),
        _condition_column("ResourceReady", c.CONDITION_RESOURCE_READY),
        _condition_column("InferenceReady", c.CONDITION_INFERENCE_READY),
        _condition_column("JobStarted", c.CONDITION_JOB_STARTED),
        _condition_column("WorkspaceReady", c.CONDITION_WORKSPACE_READY),
        PrinterColumn("State", ".status.state", description="Summary state of the workspace."),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
)
