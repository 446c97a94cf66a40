"""Names shared by the API, the controllers and the provisioner: groups, labels, annotations, conditions.

They live in one place because a typo in a label key silently breaks the link between a Workspace
and its Machines; importing the constant makes that impossible.
"""

from typing import Final

# --- Workspace API -------------------------------------------------------------------------------
KAITO_GROUP: Final = "kaito.sh"
WORKSPACE_VERSION: Final = "v1alpha1"
WORKSPACE_API_VERSION: Final = f"{KAITO_GROUP}/{WORKSPACE_VERSION}"
WORKSPACE_KIND: Final = "Workspace"
WORKSPACE_LIST_KIND: Final = "WorkspaceList"
WORKSPACE_PLURAL: Final = "workspaces"
WORKSPACE_SINGULAR: Final = "workspace"
WORKSPACE_SHORT_NAMES: Final = ("wk", "wks")

# --- Machine API (karpenter-core v1alpha5, served by the gpu-provisioner) -----------------------
KARPENTER_GROUP: Final = "karpenter.sh"
MACHINE_VERSION: Final = "v1alpha5"
MACHINE_API_VERSION: Final = f"{KARPENTER_GROUP}/{MACHINE_VERSION}"
MACHINE_KIND: Final = "Machine"
MACHINE_LIST_KIND: Final = "MachineList"
MACHINE_PLURAL: Final = "machines"
MACHINE_SINGULAR: Final = "machine"

# --- Labels --------------------------------------------------------------------------------------
LABEL_WORKSPACE: Final = "kaito.sh/workspace"
LABEL_WORKSPACE_NAMESPACE: Final = "kaito.sh/workspacenamespace"
LABEL_RAGENGINE: Final = "kaito.sh/ragengine"
LABEL_MACHINE_TYPE: Final = "kaito.sh/machine-type"
LABEL_INSTANCE_TYPE: Final = "node.kubernetes.io/instance-type"
LABEL_ZONE: Final = "topology.kubernetes.io/zone"
LABEL_ARCH: Final = "kubernetes.io/arch"
LABEL_OS: Final = "kubernetes.io/os"
LABEL_PROVISIONER_NAME: Final = "karpenter.sh/provisioner-name"
LABEL_CAPACITY_TYPE: Final = "karpenter.sh/capacity-type"
LABEL_INITIALIZED: Final = "karpenter.sh/initialized"
LABEL_REGISTERED: Final = "karpenter.sh/registered"
LABEL_ACCELERATOR: Final = "accelerator"

# --- Annotations ---------------------------------------------------------------------------------
ANNOTATION_ENABLE_LB: Final = "kaito.sh/enablelb"
# "true" on a Workspace being deleted: an admin releases it now, without waiting for its Machines (which
# the provisioner keeps terminating on its own). Anyone who may patch the Workspace could remove the
# finalizer by hand just as well; the annotation makes that logged, evented and documented.
ANNOTATION_FORCE_RELEASE: Final = "kaito.sh/force-release"
ANNOTATION_RUNTIME: Final = "kaito.sh/runtime"
ANNOTATION_BYPASS_RESOURCE_CHECKS: Final = "kaito.sh/bypass-resource-checks"
ANNOTATION_NODE_IMAGE_FAMILY: Final = "kaito.sh/node-image-family"
ANNOTATION_WORKSPACE_REVISION: Final = "workspace.kaito.io/revision"
ANNOTATION_WORKSPACE_HASH: Final = "workspace.kaito.io/hash"
ANNOTATION_MACHINE_LINKED: Final = "karpenter.sh/linked"
ANNOTATION_MACHINE_MANAGED_BY: Final = "karpenter.sh/managed-by"
ANNOTATION_DO_NOT_EVICT: Final = "karpenter.sh/do-not-evict"
ANNOTATION_DO_NOT_CONSOLIDATE: Final = "karpenter.sh/do-not-consolidate"

# --- Finalizers ----------------------------------------------------------------------------------
WORKSPACE_FINALIZER: Final = "workspace.finalizer.kaito.sh"
MACHINE_TERMINATION_FINALIZER: Final = "karpenter.sh/termination"

# --- Workspace condition types -------------------------------------------------------------------
CONDITION_RESOURCE_READY: Final = "ResourceReady"
CONDITION_MACHINE_READY: Final = "MachineReady"
CONDITION_INFERENCE_READY: Final = "InferenceReady"
CONDITION_JOB_STARTED: Final = "JobStarted"
CONDITION_WORKSPACE_READY: Final = "WorkspaceReady"
CONDITION_WORKSPACE_SUCCEEDED: Final = "WorkspaceSucceeded"
CONDITION_WORKSPACE_DELETING: Final = "WorkspaceDeleting"

# --- Workspace states (status.state) ---------------------------------------------------------------
STATE_PENDING: Final = "Pending"
STATE_PROVISIONING: Final = "Provisioning"
STATE_READY: Final = "Ready"
STATE_NOT_READY: Final = "NotReady"
STATE_RUNNING: Final = "Running"
STATE_SUCCEEDED: Final = "Succeeded"
STATE_FAILED: Final = "Failed"
STATE_DELETING: Final = "Deleting"
WORKSPACE_STATES: Final = (
    STATE_PENDING,
    STATE_PROVISIONING,
    STATE_READY,
    STATE_NOT_READY,
    STATE_RUNNING,
    STATE_SUCCEEDED,
    STATE_FAILED,
    STATE_DELETING,
)

# --- Machine condition types ---------------------------------------------------------------------
MACHINE_CONDITION_LAUNCHED: Final = "MachineLaunched"
MACHINE_CONDITION_REGISTERED: Final = "MachineRegistered"
MACHINE_CONDITION_INITIALIZED: Final = "MachineInitialized"
MACHINE_CONDITION_READY: Final = "Ready"
MACHINE_CONDITION_DRIFTED: Final = "MachineDrifted"
MACHINE_CONDITION_EMPTY: Final = "MachineEmpty"
MACHINE_CONDITION_EXPIRED: Final = "MachineExpired"
# False while a deleted Machine's cloud capacity cannot be released: the reason and message are the cloud's
# error, which the Workspace that owns the Machine repeats in its WorkspaceDeleting condition.
MACHINE_CONDITION_TERMINATED: Final = "MachineTerminated"
# Ready is derived from these three (knative "living" condition set).
MACHINE_LIVING_CONDITIONS: Final = (
    MACHINE_CONDITION_LAUNCHED,
    MACHINE_CONDITION_REGISTERED,
    MACHINE_CONDITION_INITIALIZED,
)

# --- Tuning ----------------------------------------------------------------------------------------
TUNING_METHOD_LORA: Final = "lora"
TUNING_METHOD_QLORA: Final = "qlora"
MAX_ADAPTERS: Final = 10
