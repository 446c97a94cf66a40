"""Hostile and careless Workspaces against the real apiserver with the webhook serving.

Each hostile Workspace must be refused with a message naming the field; each tricky but legal one must
be admitted. The Workspaces go to a namespace that enforces Pod Security ``restricted``, as the cluster
admin (who may create any pod): what refuses a template or volumeSource there is the apiserver's own
Pod Security admission and Pod validation, asked by the webhook through a dry run. A user who may not
create pods is impersonated (``kubectl --as``) to show the SubjectAccessReview.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import yaml

from e2e.cluster import LocalCluster
from e2e.harness import REPO, service_account_kubeconfig
from kaito.catalog import load_catalog
from kaito.runtime.client import ApiError, Client, kinds
from kaito.webhook import WebhookConfig, WebhookServer, delete_configuration
from kaito.webhook.authz import Authorizer
from kaito.webhook.validator import WorkspaceValidator
from kaito.workspace.kinds import WORKSPACE
from tests.api.cluster_support import install_crds
from tests.api.samples import inference, seed

pytestmark = pytest.mark.cluster

PUSH_SECRET = "push-creds"
OPAQUE_SECRET = "opaque-creds"
CONTROLLER_SA = "kaito-workspace-controller"
SHIPPED_NAMESPACE = "kaito-system"
DIGEST = "sha256:" + "a" * 64

Obj = dict[str, Any]

# A container that passes Pod Security "restricted".
RESTRICTED_CONTAINER: Obj = {
    "name": "server",
    "image": "registry.k8s.io/pause:3.10",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def _name() -> str:
    return f"w-{uuid.uuid4().hex[:8]}"


def _template(change: Callable[[Obj], Any] | None = None) -> Obj:
    obj = inference()
    del obj["inference"]["preset"]
    spec: Obj = {"containers": [copy.deepcopy(RESTRICTED_CONTAINER)]}
    obj["inference"]["template"] = {"metadata": {"labels": {"app": "custom"}}, "spec": spec}
    if change is not None:
        change(spec)
    return obj


def _container(spec: Obj) -> Obj:
    container: Obj = spec["containers"][0]
    return container


def _security(spec: Obj, **values: Any) -> None:
    _container(spec)["securityContext"].update(values)


def _tuning(change: Callable[[Obj], Any]) -> Obj:
    obj = seed()
    obj["tuning"]["output"]["imagePushSecret"] = PUSH_SECRET
    change(obj["tuning"])
    return obj


def _input_volume(source: Obj) -> Obj:
    return _tuning(lambda t: t.update(input={"volumeSource": source}))


def _output_volume(source: Obj) -> Obj:
    return _tuning(lambda t: t.update(output={"volumeSource": source}))


def _url(url: str) -> Obj:
    return _tuning(lambda t: t["input"].update(urls=[url]))


def _output_image(image: str) -> Obj:
    return _tuning(lambda t: t["output"].update(image=image))


def _selector(selector: Obj) -> Obj:
    obj = inference()
    obj["resource"]["labelSelector"] = selector
    return obj


def _preset_image(image: str) -> Obj:
    obj = inference()
    obj["inference"]["preset"].update(accessMode="private", presetOptions={"image": image})
    return obj


def _adapter_image(image: str) -> Obj:
    obj = inference()
    obj["inference"]["adapters"] = [{"source": {"name": "adapter-a", "image": image}}]
    return obj


# (case, Workspace, the field path the refusal must name, more text it must contain)
HOSTILE: list[tuple[str, Callable[[], Obj], str, str]] = [
    # A template is judged as the pod it becomes: Pod Security "restricted" and Pod validation.
    (
        "privileged",
        lambda: _template(lambda s: _security(s, privileged=True, allowPrivilegeEscalation=True)),
        "inference.template",
        "privileged (container",
    ),
    (
        "hostpath-volume",
        lambda: _template(lambda s: s.update(volumes=[{"name": "root", "hostPath": {"path": "/"}}])),
        "inference.template",
        "hostPath",
    ),
    ("host-network", lambda: _template(lambda s: s.update(hostNetwork=True)), "inference.template", "host"),
    ("host-pid", lambda: _template(lambda s: s.update(hostPID=True)), "inference.template", "host"),
    ("host-ipc", lambda: _template(lambda s: s.update(hostIPC=True)), "inference.template", "host"),
    (
        "run-as-root",
        lambda: _template(lambda s: _security(s, runAsUser=0)),
        "inference.template",
        "runAsUser",
    ),
    (
        "add-sys-admin",
        lambda: _template(lambda s: _security(s, capabilities={"add": ["SYS_ADMIN"], "drop": ["ALL"]})),
        "inference.template",
        "SYS_ADMIN",
    ),
    (
        "privilege-escalation",
        lambda: _template(lambda s: _security(s, allowPrivilegeEscalation=True)),
        "inference.template",
        "allowPrivilegeEscalation",
    ),
    (
        "seccomp-unconfined",
        lambda: _template(lambda s: _security(s, seccompProfile={"type": "Unconfined"})),
        "inference.template",
        "seccompProfile",
    ),
    (
        "host-port",
        lambda: _template(lambda s: _container(s).update(ports=[{"containerPort": 80, "hostPort": 80}])),
        "inference.template",
        "hostPort",
    ),
    (
        "misspelt-field",
        lambda: _template(lambda s: s.update(containres=[])),
        "inference.template",
        "unknown field",
    ),
    (
        "containers-not-a-list",
        lambda: _template(lambda s: s.update(containers="server")),
        "inference.template",
        "PodTemplateSpec",
    ),
    (
        "no-containers",
        lambda: _template(lambda s: s.update(containers=[])),
        "inference.template.spec.containers",
        "",
    ),
    (
        "container-without-image",
        lambda: _template(lambda s: _container(s).pop("image")),
        "inference.template.spec.containers[0].image",
        "",
    ),
    # Tuning volumeSources become volumes of the tuning pod.
    (
        "input-hostpath",
        lambda: _input_volume({"hostPath": {"path": "/etc"}}),
        "tuning.input.volumeSource",
        "hostPath",
    ),
    (
        "output-hostpath",
        lambda: _output_volume({"hostPath": {"path": "/var"}}),
        "tuning.output.volumeSource",
        "",
    ),
    (
        "input-misspelt-source",
        lambda: _input_volume({"hostPth": {"path": "/etc"}}),
        "tuning.input.volumeSource",
        "unknown field",
    ),
    (
        "input-two-sources",
        lambda: _input_volume({"emptyDir": {}, "persistentVolumeClaim": {"claimName": "data"}}),
        "tuning.input.volumeSource",
        "more than 1 volume type",
    ),
    (
        "output-nfs",
        lambda: _output_volume({"nfs": {"server": "10.0.0.1", "path": "/"}}),
        "tuning.output.volumeSource",
        "nfs",
    ),
    # Every encoding of a non-public address, and cloud host endpoints.
    (
        "wireserver",
        lambda: _url("http://168.63.129.16/machine?comp=goalstate"),
        "tuning.input.urls[0]",
        "WireServer",
    ),
    ("decimal-loopback", lambda: _url("http://2130706433/x"), "tuning.input.urls[0]", "loopback"),
    ("octal-loopback", lambda: _url("http://0177.0.0.1/x"), "tuning.input.urls[0]", "loopback"),
    ("hex-loopback", lambda: _url("http://0x7f.1/x"), "tuning.input.urls[0]", "loopback"),
    ("short-loopback", lambda: _url("http://127.1/x"), "tuning.input.urls[0]", "loopback"),
    ("mapped-private", lambda: _url("http://[::ffff:10.0.0.1]/x"), "tuning.input.urls[0]", "private"),
    ("ula-ipv6", lambda: _url("http://[fd00::1]/x"), "tuning.input.urls[0]", "private"),
    ("nat64-metadata", lambda: _url("http://[64:ff9b::a9fe:a9fe]/x"), "tuning.input.urls[0]", "metadata"),
    ("imds", lambda: _url("http://169.254.169.254/metadata/instance"), "tuning.input.urls[0]", "metadata"),
    (
        "gce-metadata-name",
        lambda: _url("http://metadata.google.internal/x"),
        "tuning.input.urls[0]",
        "metadata",
    ),
    ("wildcard-dns", lambda: _url("http://127.0.0.1.nip.io/x"), "tuning.input.urls[0]", "wildcard-DNS"),
    (
        "percent-host",
        lambda: _url("http://%31%32%37.0.0.1/x"),
        "tuning.input.urls[0]",
        "not a plain DNS name",
    ),
    ("comma-in-url", lambda: _url("https://example.com/a,b"), "tuning.input.urls[0]", "comma"),
    ("file-scheme", lambda: _url("file:///etc/passwd"), "tuning.input.urls[0]", "scheme"),
    # Image references: the distribution grammar, no credentials, the push target under egress policy.
    (
        "output-credentials",
        lambda: _output_image("user:secret@myregistry.azurecr.io/adapter:0.0.1"),
        "tuning.output.image",
        "credentials",
    ),
    (
        "output-upper-case",
        lambda: _output_image("myregistry.azurecr.io/MyAdapter:0.0.1"),
        "tuning.output.image",
        "lower-case",
    ),
    (
        "output-private-registry",
        lambda: _output_image("10.0.0.5:5000/adapter:0.0.1"),
        "tuning.output.image",
        "private",
    ),
    (
        "output-localhost-registry",
        lambda: _output_image("localhost:5000/adapter:0.0.1"),
        "tuning.output.image",
        "local",
    ),
    (
        "output-loopback-v6",
        lambda: _output_image("[::1]:5000/adapter:0.0.1"),
        "tuning.output.image",
        "loopback",
    ),
    (
        "input-credentials",
        lambda: _tuning(lambda t: t.update(input={"image": "u:p@ghcr.io/org/data:1"})),
        "tuning.input.image",
        "credentials",
    ),
    (
        "adapter-empty-path",
        lambda: _adapter_image("ghcr.io/org//adapter:1"),
        "inference.adapters[0].source.image",
        "",
    ),
    (
        "preset-image-credentials",
        lambda: _preset_image("me:token@ghcr.io/org/phi:1"),
        "inference.preset.presetOptions.image",
        "credentials",
    ),
    # Label selectors as the apiserver validates them.
    (
        "in-without-values",
        lambda: _selector({"matchExpressions": [{"key": "app", "operator": "In"}]}),
        "resource.labelSelector.matchExpressions[0].values",
        "non-empty",
    ),
    (
        "notin-without-values",
        lambda: _selector({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": []}]}),
        "resource.labelSelector.matchExpressions[0].values",
        "non-empty",
    ),
    (
        "exists-with-values",
        lambda: _selector({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}),
        "resource.labelSelector.matchExpressions[0].values",
        "empty",
    ),
    (
        "bad-key",
        lambda: _selector({"matchLabels": {"bad key!": "x"}}),
        "resource.labelSelector.matchLabels",
        "label key",
    ),
    (
        "bad-value",
        lambda: _selector({"matchLabels": {"app": "has space"}}),
        "resource.labelSelector.matchLabels",
        "value",
    ),
    ("empty-selector", lambda: _selector({}), "resource.labelSelector", "every node"),
]

LEGAL: list[tuple[str, Callable[[], Obj]]] = [
    (
        "match-expressions-only",
        lambda: _selector({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]}),
    ),
    ("exists-only", lambda: _selector({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]})),
    ("reserved-key-selected", lambda: _selector({"matchLabels": {"kubernetes.io/os": "linux", "app": "x"}})),
    ("encoded-comma-and-space", lambda: _url("https://example.com/data%2Cpart%201.parquet?download=true")),
    ("public-ipv6-literal", lambda: _url("https://[2606:4700:4700::1111]/data.json")),
    ("public-ipv4-literal", lambda: _url("http://1.1.1.1/data.json")),
    ("punycode-host", lambda: _url("https://xn--bcher-kva.example/data.json")),
    ("registry-with-port", lambda: _output_image("myregistry.azurecr.io:443/team/adapter:0.0.1")),
    (
        "input-image-by-digest",
        lambda: _tuning(lambda t: t.update(input={"image": f"ghcr.io/org/data@{DIGEST}"})),
    ),
    ("restricted-template", lambda: _template()),
    (
        "template-with-configmap-volume",
        lambda: _template(lambda s: s.update(volumes=[{"name": "c", "configMap": {"name": "x"}}])),
    ),
    ("input-pvc", lambda: _input_volume({"persistentVolumeClaim": {"claimName": "training-data"}})),
    ("output-pvc", lambda: _output_volume({"persistentVolumeClaim": {"claimName": "results"}})),
]


async def _kubectl(cluster: LocalCluster, *args: str, input: str | None = None) -> tuple[int, str]:
    proc = await asyncio.to_thread(cluster.kubectl, *args, check=False, input=input)
    return proc.returncode, proc.stdout + proc.stderr


async def _namespace(kube_client: Client, level: str | None) -> str:
    name = f"t-hostile-{uuid.uuid4().hex[:6]}"
    labels = {"pod-security.kubernetes.io/enforce": level} if level else {}
    await kube_client.create(kinds.NAMESPACE, {"metadata": {"name": name, "labels": labels}})
    # The dry-run pod needs the namespace's default ServiceAccount, which kube-controller-manager adds.
    for _ in range(100):
        if await kube_client.get_or_none(kinds.SERVICE_ACCOUNT, name, "default") is not None:
            return name
        await asyncio.sleep(0.1)
    raise AssertionError(f"no default ServiceAccount in {name}")


@pytest.fixture(scope="module")
async def controller_client(
    cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Client]:
    """The runtime client as the workspace controller's ServiceAccount with exactly the shipped RBAC: what
    the webhook asks (SubjectAccessReviews, pod dry runs, ConfigMaps) it must be allowed to ask."""
    await _kubectl(cluster, "create", "namespace", SHIPPED_NAMESPACE)  # exists already in a full run
    rbac = str(REPO / "manifests" / "rbac")
    code, out = await _kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-k", rbac)
    assert code == 0, out
    path = tmp_path_factory.mktemp("controller") / "kubeconfig"
    await asyncio.to_thread(service_account_kubeconfig, cluster, CONTROLLER_SA, path, SHIPPED_NAMESPACE)
    client = await Client.from_kubeconfig(path, qps=0, burst=0, field_manager="kaito-webhook")
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
async def webhook(
    cluster: LocalCluster, kube_client: Client, controller_client: Client
) -> AsyncIterator[WebhookServer]:
    await asyncio.to_thread(install_crds, cluster)
    system = f"t-kaito-system-{uuid.uuid4().hex[:6]}"
    await _kubectl(cluster, "create", "namespace", system)

    async def read_config_map(namespace: str, name: str) -> dict[str, str] | None:
        config_map = await controller_client.get_or_none(kinds.CONFIGMAP, namespace, name)
        return None if config_map is None else dict(config_map.get("data") or {})

    catalog = load_catalog()
    # The TLS Secret and the webhook configuration are set up with the admin's rights (in a cluster the
    # manifests install the configuration); the admission decisions are made with the controller's.
    validator = WorkspaceValidator(catalog, read_config_map, authorizer=Authorizer(controller_client))
    server = WebhookServer(
        kube_client,
        catalog,
        WebhookConfig(namespace=system, port=0, bind_host="127.0.0.1"),
        validator=validator,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await delete_configuration(kube_client)
        await _kubectl(cluster, "delete", "namespace", system, "--wait=false")


@pytest.fixture(scope="module")
async def restricted_ns(kube_client: Client) -> AsyncIterator[str]:
    name = await _namespace(kube_client, "restricted")
    await kube_client.create(
        kinds.SECRET,
        {
            "metadata": {"name": PUSH_SECRET},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": '{"auths": {}}'},
        },
        name,
    )
    await kube_client.create(
        kinds.SECRET, {"metadata": {"name": OPAQUE_SECRET}, "stringData": {"x": "y"}}, name
    )
    yield name
    await kube_client.delete(kinds.NAMESPACE, None, name)


def _rule(group: str, resource: str, *verbs: str) -> Obj:
    return {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}


def _user(name: str) -> Obj:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


async def _grant(client: Client, namespace: str, name: str, rules: list[Obj], subject: Obj) -> None:
    """A Role ``name`` with ``rules`` in ``namespace``, bound to ``subject``."""
    await client.create(kinds.ROLE, {"metadata": {"name": name}, "rules": rules}, namespace)
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [subject],
    }
    await client.create(kinds.ROLE_BINDING, binding, namespace)


async def _create(kube_client: Client, namespace: str, obj: Obj) -> str | None:
    """None when admitted, else the apiserver's message."""
    obj = copy.deepcopy(obj)
    obj["metadata"] = {"name": _name()}
    try:
        await kube_client.create(WORKSPACE, obj, namespace)
    except ApiError as exc:
        return exc.message or str(exc)
    return None


async def test_hostile_workspaces_are_refused_naming_the_field(
    kube_client: Client, webhook: WebhookServer, restricted_ns: str
) -> None:
    assert len(HOSTILE) >= 40
    failures: list[str] = []
    for case, build, field, text in HOSTILE:
        message = await _create(kube_client, restricted_ns, build())
        if message is None:
            failures.append(f"{case}: admitted")
        elif field not in message or text not in message:
            failures.append(f"{case}: {field!r} / {text!r} not in: {message}")
    assert failures == []


async def test_tricky_but_legal_workspaces_are_admitted(
    kube_client: Client, webhook: WebhookServer, restricted_ns: str
) -> None:
    assert len(LEGAL) >= 10
    failures: list[str] = []
    for case, build in LEGAL:
        message = await _create(kube_client, restricted_ns, build())
        if message is not None:
            failures.append(f"{case}: {message}")
    assert failures == []


async def test_user_who_may_not_create_pods_gets_none_through_a_workspace(
    cluster: LocalCluster, kube_client: Client, webhook: WebhookServer
) -> None:
    # A namespace with no Pod Security level: only RBAC stands between the user and a privileged pod.
    namespace = await _namespace(kube_client, None)
    user = f"alice-{uuid.uuid4().hex[:4]}"
    rules = [_rule("kaito.sh", "workspaces", "get", "create")]
    await _grant(kube_client, namespace, "workspaces", rules, _user(user))
    try:
        privileged = _template(
            lambda s: _security(
                s, privileged=True, runAsUser=0, runAsNonRoot=False, allowPrivilegeEscalation=True
            )
        )
        host_path = _input_volume({"hostPath": {"path": "/"}})
        for obj, field in ((privileged, "inference.template"), (host_path, "tuning.input.volumeSource")):
            obj["metadata"]["name"] = _name()
            code, out = await _kubectl(
                cluster, "apply", "-n", namespace, f"--as={user}", "-f", "-", input=_yaml(obj)
            )
            assert code != 0, out
            assert f"{field}: user '{user}' may not create pods in namespace '{namespace}'" in out, out
        # The same user may write a preset Workspace: nothing of theirs runs.
        preset = inference()
        preset["metadata"]["name"] = _name()
        code, out = await _kubectl(
            cluster, "apply", "-n", namespace, f"--as={user}", "-f", "-", input=_yaml(preset)
        )
        assert code == 0, out

        # Once they may create pods themselves, the Workspace gives them nothing new and is admitted.
        rules.append(_rule("", "pods", "create"))
        await kube_client.patch(kinds.ROLE, namespace, "workspaces", {"rules": rules})
        privileged["metadata"]["name"] = _name()
        code, out = await _kubectl(
            cluster, "apply", "-n", namespace, f"--as={user}", "-f", "-", input=_yaml(privileged)
        )
        assert code == 0, out
    finally:
        await kube_client.delete(kinds.NAMESPACE, None, namespace)


async def test_push_secret_the_author_cannot_read_is_refused(
    cluster: LocalCluster, kube_client: Client, webhook: WebhookServer, restricted_ns: str
) -> None:
    user = f"bob-{uuid.uuid4().hex[:4]}"
    await _grant(
        kube_client, restricted_ns, user, [_rule("kaito.sh", "workspaces", "get", "create")], _user(user)
    )
    obj = _tuning(lambda t: None)
    obj["metadata"]["name"] = _name()
    code, out = await _kubectl(
        cluster, "apply", "-n", restricted_ns, f"--as={user}", "-f", "-", input=_yaml(obj)
    )
    assert code != 0, out
    assert f"tuning.output.imagePushSecret: user '{user}' may not get Secret '{PUSH_SECRET}'" in out, out


async def test_push_secret_type_is_checked_where_the_webhook_may_list_secrets(
    cluster: LocalCluster, kube_client: Client, webhook: WebhookServer, restricted_ns: str
) -> None:
    opaque = _tuning(lambda t: t["output"].update(imagePushSecret=OPAQUE_SECRET))
    # The shipped RBAC reads no Secrets: the type is not verified, and the author is told so.
    opaque["metadata"]["name"] = _name()
    code, out = await _kubectl(cluster, "apply", "-n", restricted_ns, "-f", "-", input=_yaml(opaque))
    assert code == 0, out
    assert f"tuning.output.imagePushSecret: the type of Secret '{OPAQUE_SECRET}' was not verified" in out, out
    # An operator lets the webhook list Secrets in this namespace: an Opaque push secret is refused.
    subject = {"kind": "ServiceAccount", "name": CONTROLLER_SA, "namespace": SHIPPED_NAMESPACE}
    await _grant(kube_client, restricted_ns, "push-secret-check", [_rule("", "secrets", "list")], subject)
    for _ in range(50):  # RBAC caches in the apiserver catch up within a moment
        message = await _create(kube_client, restricted_ns, opaque)
        if message is not None:
            break
        await asyncio.sleep(0.1)
    assert message is not None and "tuning.output.imagePushSecret" in message, message
    assert f"Secret '{OPAQUE_SECRET}' must be of type kubernetes.io/dockerconfigjson" in message
    assert await _create(kube_client, restricted_ns, _tuning(lambda t: None)) is None


async def test_deleting_works_while_the_webhook_is_down(
    cluster: LocalCluster, kube_client: Client, webhook: WebhookServer, restricted_ns: str
) -> None:
    obj = inference()
    obj["metadata"] = {"name": _name(), "finalizers": ["kaito.sh/test-finalizer"]}
    await kube_client.create(WORKSPACE, obj, restricted_ns)
    name = obj["metadata"]["name"]
    await webhook.stop()
    try:
        await kube_client.delete(WORKSPACE, restricted_ns, name)
        patch = [{"op": "remove", "path": "/metadata/finalizers"}]
        code, out = await _kubectl(
            cluster, "patch", "workspace", name, "-n", restricted_ns, "--type=json", "-p", _json(patch)
        )
        assert code == 0, out
        assert await kube_client.get_or_none(WORKSPACE, restricted_ns, name) is None
    finally:
        await webhook.start()


def _yaml(obj: Obj) -> str:
    return yaml.safe_dump(obj)


def _json(obj: Any) -> str:
    return json.dumps(obj)
