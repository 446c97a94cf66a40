"""No privilege through the controller: a Workspace may only ask for pods its author could create.

The controller may create Deployments and Jobs in every namespace, so a Workspace carrying a user pod
template or a raw ``volumeSource`` would otherwise let anyone who may write Workspaces run a
privileged, hostPath or host-namespace pod. For such a Workspace the webhook asks the apiserver two
questions on the author's behalf:

* a SubjectAccessReview with the request's userInfo (user, uid, groups, extra): may they ``create
  pods`` in the namespace?
* a server-side dry-run create of the would-be Pod in that namespace: does it pass the namespace's
  Pod Security level and the apiserver's own Pod validation?

The dry run is chosen over an own evaluation of the Pod Security Standards because it is the
apiserver's own PodSecurity admission, at the cluster's version, honouring the namespace's
``enforce`` and ``enforce-version`` labels and the cluster's exemptions; and the same request decodes
the template strictly as a Pod (``fieldValidation=Strict``), so a misspelt or malformed field is
refused with the apiserver's own field path. Nothing is persisted (``dryRun=All``).

The push secret of a tuning output must be one the author may ``get`` (another SubjectAccessReview)
and of type ``kubernetes.io/dockerconfigjson``. Its type is read from a metadata-only list with a field
selector, so the webhook never receives any Secret's contents; but RBAC cannot grant a metadata-only
list, so the shipped RBAC does not let the webhook list Secrets at all, and the type is checked only
where an operator grants that (a RoleBinding per namespace). Elsewhere the Workspace is admitted with a
warning saying the type was not verified.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from kaito.runtime.client import ApiError, Client, Kind, kinds
from kaito.webhook.admission import UserInfo
from kaito.workspace.inference import InferenceInputs, user_pod_template
from kaito.workspace.podspec import restricted

log = structlog.get_logger(__name__)

SUBJECT_ACCESS_REVIEW = Kind(
    "authorization.k8s.io",
    "v1",
    "SubjectAccessReview",
    "subjectaccessreviews",
    namespaced=False,
    builtin=True,
)
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
PROBE_PREFIX = "kaito-admission-"
# Only the volume under test varies; the probe container is as locked down as KAITO's own pods.
_PROBE_IMAGE = "registry.k8s.io/pause:3.10"


@dataclass(frozen=True)
class PodRequest:
    """One pod a Workspace makes the controller create on its author's behalf: ``field`` is the
    Workspace field it comes from, ``spec_path`` where that field sits inside the Pod we dry-run."""

    field: str
    pod: dict[str, Any]
    spec_path: str


def pod_requests(workspace: Mapping[str, Any]) -> list[PodRequest]:
    """The user-shaped pods a Workspace asks for (none for a preset workload without volumeSources)."""
    requests: list[PodRequest] = []
    template = (workspace.get("inference") or {}).get("template")
    if template is not None:
        # The pod as the controller would make it: the user's template plus KAITO's labels and tolerations.
        built = user_pod_template(workspace, InferenceInputs(preset=None, registry="", worker_nodes=()))
        requests.append(PodRequest("inference.template", built, ""))
    tuning = workspace.get("tuning") or {}
    for field in ("input", "output"):
        source = (tuning.get(field) or {}).get("volumeSource")
        if source is not None:
            requests.append(
                PodRequest(f"tuning.{field}.volumeSource", _volume_probe(source), "spec.volumes[0]")
            )
    return requests


def _volume_probe(source: Any) -> dict[str, Any]:
    volume = {**source, "name": "data"} if isinstance(source, Mapping) else source
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "probe",
                "image": _PROBE_IMAGE,
                "volumeMounts": [{"name": "data", "mountPath": "/mnt/data"}],
            }
        ],
        "volumes": [volume],
    }
    return {"spec": restricted(spec)}


def _who(user: UserInfo) -> str:
    return repr(user.username or "(anonymous)")


class Authorizer:
    """Asks the apiserver whether a Workspace's author already holds the power the Workspace uses."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def check(
        self, workspace: Mapping[str, Any], user: UserInfo, namespace: str
    ) -> tuple[list[str], list[str]]:
        """(errors, warnings), each naming the Workspace field; no errors when the author could do this
        themselves."""
        problems: list[str] = []
        warnings: list[str] = []
        requests = pod_requests(workspace)
        if requests:
            allowed, reason = await self._may(user, namespace, "create", "pods")
            if not allowed:
                fields = " and ".join(r.field for r in requests)
                problems.append(
                    f"{fields}: user {_who(user)} may not create pods in namespace {namespace!r}{reason}; a "
                    "Workspace with a template or a volumeSource runs a pod of your making, so it needs "
                    "that right (use a preset and urls or image data sources instead)"
                )
                return problems, warnings
            for request in requests:
                error, warning = await self._dry_run(request, namespace)
                problems += [error] if error else []
                warnings += [warning] if warning else []
        output = (workspace.get("tuning") or {}).get("output") or {}
        secret = output.get("imagePushSecret")
        if isinstance(secret, str) and secret:
            errors, warned = await self._check_push_secret(user, namespace, secret)
            problems += errors
            warnings += warned
        return problems, warnings

    async def _may(
        self, user: UserInfo, namespace: str, verb: str, resource: str, name: str | None = None
    ) -> tuple[bool, str]:
        attributes: dict[str, Any] = {"namespace": namespace, "verb": verb, "resource": resource}
        if name is not None:
            attributes["name"] = name
        spec: dict[str, Any] = {
            "user": user.username,
            "groups": user.groups,
            "resourceAttributes": attributes,
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = user.extra
        review = await self._client.create(SUBJECT_ACCESS_REVIEW, {"spec": spec})
        status = review.get("status") or {}
        reason = str(status.get("reason") or "")
        return bool(status.get("allowed")) and not status.get("denied"), f" ({reason})" if reason else ""

    async def _dry_run(self, request: PodRequest, namespace: str) -> tuple[str | None, str | None]:
        """(error, warning) of creating the pod in ``namespace`` now, persisting nothing."""
        pod = copy.deepcopy(request.pod)
        metadata = pod.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            return f"{request.field}.metadata: must be an object (ObjectMeta)", None
        # generateName: the probe can never collide with (or be mistaken for) a real pod.
        for key in ("name", "namespace", "resourceVersion", "uid", "ownerReferences", "generateName"):
            metadata.pop(key, None)
        metadata["generateName"] = PROBE_PREFIX
        try:
            await self._client.create(kinds.POD, pod, namespace, dry_run=True, strict=True)
        except ApiError as exc:
            if exc.status == 403 and "exceeded quota" in (exc.message or ""):
                # Quota is about how many pods, not which: the workload's pods wait for room as any would.
                return None, f"{request.field}: the namespace's quota is exhausted now: {exc.message}"
            return self._explain(exc, request, namespace), None
        return None, None

    @staticmethod
    def _explain(exc: ApiError, request: PodRequest, namespace: str) -> str:
        message = exc.message or str(exc)
        if exc.status == 422:
            causes = (exc.body.get("details") or {}).get("causes") or []
            if request.spec_path:
                # Only what the user wrote: a mount of the probe's own container failing along with the
                # volume is noise.
                own = [c for c in causes if str(c.get("field") or "").startswith(request.spec_path)]
                causes = own or causes
            found = [
                f"{_field(request, str(c.get('field') or ''))}: {c.get('message') or c.get('reason')}"
                for c in causes
            ]
            if found:
                return "; ".join(found)
            return f"{request.field}: not a valid pod: {message}"
        if "dry run" in message.lower() or "dryrun" in message.lower():
            # Another admission webhook on pods that cannot take a dry run: we cannot judge, so we refuse.
            return (
                f"{request.field}: could not check the pod against namespace {namespace!r}: {message}; an "
                "admission webhook on pods in this cluster does not support dry runs"
            )
        if exc.status == 400:
            # Strict decoding: unknown or duplicate fields, wrong types.
            return f"{request.field}: not a valid {_what(request)}: {_strip_prefix(message)}"
        if exc.status == 403 and "PodSecurity" in message:
            return (
                f"{request.field}: the pod would violate the Pod Security level of namespace {namespace!r}: "
                f"{_strip_prefix(message)}"
            )
        if exc.status == 403:
            return (
                f"{request.field}: the apiserver would refuse this pod in namespace {namespace!r}: {message}"
            )
        log.warning("pod dry run failed", namespace=namespace, field=request.field, error=str(exc))
        return (
            f"{request.field}: could not check the pod against namespace {namespace!r} ({exc}); retry, or "
            "check the webhook's RBAC (create pods, dry run)"
        )

    async def _check_push_secret(
        self, user: UserInfo, namespace: str, name: str
    ) -> tuple[list[str], list[str]]:
        field = "tuning.output.imagePushSecret"
        allowed, reason = await self._may(user, namespace, "get", "secrets", name)
        if not allowed:
            return [
                f"{field}: user {_who(user)} may not get Secret {name!r} in namespace {namespace!r}{reason}; "
                "a Workspace can only push with credentials its author could read"
            ], []
        selector = f"metadata.name={name}"
        try:
            listed = await self._client.list(
                kinds.SECRET, namespace, field_selector=selector, metadata_only=True
            )
        except ApiError as exc:
            if exc.status != 403:
                raise
            return [], [
                f"{field}: the type of Secret {name!r} was not verified (the webhook may not list Secrets in "
                f"namespace {namespace!r}); it must be a {DOCKER_CONFIG_JSON} Secret or the push fails"
            ]
        if not listed["items"]:
            # Upstream's example manifests name a Secret created afterwards; the pusher waits for it.
            return [], [
                f"{field}: Secret {name!r} not found in namespace {namespace!r}; the push waits until it "
                f"exists (kubectl create secret docker-registry {name} ...)"
            ]
        typed = await self._client.list(
            kinds.SECRET,
            namespace,
            field_selector=f"{selector},type={DOCKER_CONFIG_JSON}",
            metadata_only=True,
        )
        if not typed["items"]:
            return [
                f"{field}: Secret {name!r} must be of type {DOCKER_CONFIG_JSON} (create it with kubectl "
                "create secret docker-registry); the pusher reads its .dockerconfigjson"
            ], []
        return [], []


def _what(request: PodRequest) -> str:
    return "PodTemplateSpec" if request.field == "inference.template" else "VolumeSource"


def _strip_prefix(message: str) -> str:
    # 'pods "kaito-admission-x" is forbidden: ...' names our probe, which means nothing to the user.
    for marker in ("is forbidden: ", "is invalid: "):
        if marker in message:
            return message.split(marker, 1)[1]
    return message.removeprefix('Pod in version "v1" cannot be handled as a Pod: ')


def _field(request: PodRequest, pod_field: str) -> str:
    """A Pod field path from the apiserver as the Workspace field it came from."""
    if request.spec_path and pod_field.startswith(request.spec_path):
        return request.field + pod_field[len(request.spec_path) :]
    if request.spec_path:
        return request.field
    return f"{request.field}.{pod_field}" if pod_field else request.field
