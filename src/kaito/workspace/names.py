"""Names the workspace controller owns: its field manager, object names, labels and condition reasons.

Upstream's label/annotation keys live in :mod:`kaito.api.constants`; this module adds the ones that only
the controller writes, so a typo cannot split a reader from its writer.
"""

from typing import Final

from kaito.api.constants import STATE_NOT_READY, WORKSPACE_STATES

FIELD_MANAGER: Final = "kaito-workspace-controller"
CONTROLLER_NAME: Final = "workspace"
EVENT_SOURCE: Final = "workspace-controller"

# Hash of the desired manifest, stamped on every object we write: equal hash means nothing to write.
ANNOTATION_MANIFEST_HASH: Final = "kaito.sh/manifest-hash"
# Hash of the Workspace spec (resource, inference, tuning); a tuning Job is replaced when it changes.
ANNOTATION_SPEC_HASH: Final = "workspace.kaito.io/hash"
ANNOTATION_REVISION: Final = "workspace.kaito.io/revision"
# Hash of the mounted ConfigMap's data on the pod template, so editing the ConfigMap rolls the pods.
ANNOTATION_CONFIG_HASH: Final = "kaito.sh/config-hash"
LABEL_REVISION_WORKSPACE: Final = "workspace.kaito.io/name"

MACHINE_TYPE_GPU: Final = "gpu"
PROVISIONER_NAME: Final = "default"
GPU_RESOURCE: Final = "nvidia.com/gpu"
ACCELERATOR_NVIDIA: Final = "nvidia"

MAX_REVISION_HISTORY: Final = 10

# Condition reasons (CamelCase, metav1.Condition's pattern).
REASON_NODES_READY: Final = "NodesReady"
REASON_MACHINE_PENDING: Final = "CreateMachinePending"
REASON_MACHINE_CREATE_FAILED: Final = "MachineCreationFailed"
REASON_MACHINE_FAILED: Final = "MachineFailed"
REASON_NODES_NOT_READY: Final = "NodesNotReady"
REASON_INVALID_PRESET: Final = "InvalidPreset"
REASON_RESOURCES_PENDING: Final = "ResourcesNotReady"
REASON_INFERENCE_READY: Final = "WorkspaceInferenceStatusSuccess"
REASON_WORKLOAD_PENDING: Final = "WorkloadNotReady"
REASON_JOB_STARTED: Final = "WorkspaceTuningJobStatusStarted"
REASON_JOB_PENDING: Final = "WorkspaceTuningJobStatusPending"
REASON_JOB_SUCCEEDED: Final = "WorkspaceTuningJobStatusSucceeded"
REASON_ADAPTER_PUBLISHED: Final = "AdapterPublished"
REASON_RUNTIME_SELECTED: Final = "RuntimeSelected"
REASON_JOB_FAILED: Final = "WorkspaceTuningJobStatusFailed"
REASON_WORKSPACE_READY: Final = "WorkspaceReady"
REASON_WORKSPACE_SUCCEEDED: Final = "WorkspaceSucceeded"
REASON_WORKSPACE_DELETING: Final = "WorkspaceDeleting"
REASON_MACHINE_RELEASE_FAILED: Final = "MachineReleaseFailed"
REASON_FORCE_RELEASED: Final = "ForceReleased"
REASON_CONFIG_MISSING: Final = "ConfigMapNotFound"
REASON_CONFIG_INVALID: Final = "ConfigMapInvalid"
REASON_WORKLOAD_INVALID: Final = "WorkloadInvalid"

# Summary states (status.state) this controller writes: the API's, but for NotReady, which it never sets.
STATES: Final = tuple(s for s in WORKSPACE_STATES if s != STATE_NOT_READY)

# Paths shared with the preset images (presets/workspace contract).
MOUNT_DATA: Final = "/mnt/data"
MOUNT_ADAPTER: Final = "/mnt/adapter"
MOUNT_RESULTS: Final = "/mnt/results"
MOUNT_CONFIG: Final = "/mnt/config"
MOUNT_SHM: Final = "/dev/shm"
TUNING_SENTINEL: Final = "fine_tuning_completed.txt"
INFERENCE_PORT: Final = 5000
