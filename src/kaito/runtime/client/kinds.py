"""Well-known built-in kinds. Anything else: declare a :class:`Kind` or resolve one through discovery."""

from __future__ import annotations

from kaito.runtime.client.kind import Kind


def _builtin(group: str, version: str, kind: str, plural: str, namespaced: bool = True) -> Kind:
    return Kind(group, version, kind, plural, namespaced, builtin=True)


NAMESPACE = _builtin("", "v1", "Namespace", "namespaces", namespaced=False)
NODE = _builtin("", "v1", "Node", "nodes", namespaced=False)
POD = _builtin("", "v1", "Pod", "pods")
CONFIGMAP = _builtin("", "v1", "ConfigMap", "configmaps")
SECRET = _builtin("", "v1", "Secret", "secrets")
SERVICE = _builtin("", "v1", "Service", "services")
SERVICE_ACCOUNT = _builtin("", "v1", "ServiceAccount", "serviceaccounts")
ENDPOINTS = _builtin("", "v1", "Endpoints", "endpoints")
EVENT = _builtin("", "v1", "Event", "events")
PERSISTENT_VOLUME_CLAIM = _builtin("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
PERSISTENT_VOLUME = _builtin("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False)
DEPLOYMENT = _builtin("apps", "v1", "Deployment", "deployments")
STATEFULSET = _builtin("apps", "v1", "StatefulSet", "statefulsets")
DAEMONSET = _builtin("apps", "v1", "DaemonSet", "daemonsets")
REPLICASET = _builtin("apps", "v1", "ReplicaSet", "replicasets")
CONTROLLER_REVISION = _builtin("apps", "v1", "ControllerRevision", "controllerrevisions")
JOB = _builtin("batch", "v1", "Job", "jobs")
CRONJOB = _builtin("batch", "v1", "CronJob", "cronjobs")
LEASE = _builtin("coordination.k8s.io", "v1", "Lease", "leases")
EVENTS_V1 = _builtin("events.k8s.io", "v1", "Event", "events")
CUSTOM_RESOURCE_DEFINITION = _builtin(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False
)
PRIORITY_CLASS = _builtin("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False)
STORAGE_CLASS = _builtin("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False)
ROLE = _builtin("rbac.authorization.k8s.io", "v1", "Role", "roles")
ROLE_BINDING = _builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings")
CLUSTER_ROLE = _builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDING = _builtin(
    "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False
)
POD_DISRUPTION_BUDGET = _builtin("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets")
VALIDATING_WEBHOOK_CONFIGURATION = _builtin(
    "admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
    "validatingwebhookconfigurations", namespaced=False,
)  # fmt: skip
MUTATING_WEBHOOK_CONFIGURATION = _builtin(
    "admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
    "mutatingwebhookconfigurations", namespaced=False,
)  # fmt: skip

ALL: tuple[Kind, ...] = (
    NAMESPACE, NODE, POD, CONFIGMAP, SECRET, SERVICE, SERVICE_ACCOUNT, ENDPOINTS, EVENT,
    PERSISTENT_VOLUME_CLAIM, PERSISTENT_VOLUME, DEPLOYMENT, STATEFULSET, DAEMONSET, REPLICASET,
    CONTROLLER_REVISION, JOB, CRONJOB, LEASE, EVENTS_V1, CUSTOM_RESOURCE_DEFINITION, PRIORITY_CLASS,
    STORAGE_CLASS, ROLE, ROLE_BINDING, CLUSTER_ROLE, CLUSTER_ROLE_BINDING, POD_DISRUPTION_BUDGET,
    VALIDATING_WEBHOOK_CONFIGURATION, MUTATING_WEBHOOK_CONFIGURATION,
)  # fmt: skip
