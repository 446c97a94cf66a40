"""CRD facts for the karpenter Machine: names, scope and the `kubectl get machine` columns."""

from __future__ import annotations

from kaito.api import constants as c
from kaito.api.crdgen.crd import CRDDefinition, PrinterColumn
from kaito.api.machine.types import Machine


def _label_column(name: str, label: str, priority: int = 0) -> PrinterColumn:
    escaped = label.replace(".", "\\.")
    return PrinterColumn(name, f".metadata.labels.{escaped}", priority=priority)


MACHINE_CRD = CRDDefinition(
    group=c.KARPENTER_GROUP,
    version=c.MACHINE_VERSION,
    kind=c.MACHINE_KIND,
    list_kind=c.MACHINE_LIST_KIND,
    plural=c.MACHINE_PLURAL,
    singular=c.MACHINE_SINGULAR,
    scope="Cluster",
    categories=("karpenter",),
    model=Machine,
    printer_columns=(
        _label_column("Type", c.LABEL_INSTANCE_TYPE),
        _label_column("Zone", c.LABEL_ZONE),
        PrinterColumn("Node", ".status.nodeName"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        _label_column("Capacity", c.LABEL_CAPACITY_TYPE, priority=1),
        _label_column("Provisioner", c.LABEL_PROVISIONER_NAME, priority=1),
        PrinterColumn("Template", ".spec.machineTemplateRef.name", priority=1),
    ),
)
