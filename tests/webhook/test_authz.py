"""The authorizer's questions and how it reads the apiserver's answers (a fake client; the real apiserver
answers them in test_hostile_workspaces)."""

from __future__ import annotations

from typing import Any

from kaito.runtime.client import ApiError, Kind, kinds
from kaito.webhook.admission import AdmissionReview, UserInfo
from kaito.webhook.authz import Authorizer, pod_requests
from tests.api.samples import inference, seed

USER = UserInfo(username="alice", uid="u-1", groups=["devs", "system:authenticated"], extra={"scopes": ["a"]})


class FakeClient:
    field_manager = "test"

    def __init__(
        self, allowed: bool = True, secrets: dict[str, str] | None = None, error: ApiError | None = None
    ):
        """``secrets``: name -> type of the Secrets the webhook may list; None: it may not list Secrets."""
        self.allowed = allowed
        self.secrets = secrets
        self.error = error
        self.reviews: list[dict[str, Any]] = []
        self.pods: list[dict[str, Any]] = []

    async def create(
        self, kind: Kind, obj: dict[str, Any], namespace: str | None = None, **options: Any
    ) -> Any:
        if kind == kinds.POD:
            self.pods.append({"namespace": namespace, "body": obj, **options})
            if self.error is not None:
                raise self.error
            return obj
        self.reviews.append(obj["spec"])
        return {"status": {"allowed": self.allowed, "reason": "" if self.allowed else "RBAC: no"}}

    async def list(
        self, kind: Any, namespace: str, *, field_selector: str, metadata_only: bool
    ) -> dict[str, Any]:
        assert metadata_only, "the webhook never reads a Secret's data"
        if self.secrets is None:
            raise ApiError(403, "Forbidden", "secrets is forbidden")
        wanted = dict(part.split("=", 1) for part in field_selector.split(","))
        items = [
            {"metadata": {"name": name}}
            for name, kind_ in self.secrets.items()
            if wanted["metadata.name"] == name and wanted.get("type", kind_) == kind_
        ]
        return {"items": items}


def _authorizer(client: FakeClient) -> Authorizer:
    return Authorizer(client)  # type: ignore[arg-type]


def test_user_info_is_read_from_the_admission_review() -> None:
    review = AdmissionReview.model_validate(
        {
            "request": {
                "uid": "1",
                "userInfo": {"username": "alice", "uid": "u-1", "groups": ["devs"], "extra": {"k": ["v"]}},
            }
        }
    )
    assert review.request.user_info == UserInfo(
        username="alice", uid="u-1", groups=["devs"], extra={"k": ["v"]}
    )


def test_only_templates_and_volume_sources_are_user_pods() -> None:
    assert pod_requests(inference()) == []
    assert pod_requests(seed()) == []
    ws = seed()
    ws["tuning"]["input"] = {"volumeSource": {"persistentVolumeClaim": {"claimName": "d"}}}
    ws["tuning"]["output"] = {"volumeSource": {"emptyDir": {}}}
    requests = pod_requests(ws)
    assert [r.field for r in requests] == ["tuning.input.volumeSource", "tuning.output.volumeSource"]
    volume = requests[0].pod["spec"]["volumes"][0]
    assert volume == {"persistentVolumeClaim": {"claimName": "d"}, "name": "data"}
    # The probe around the volume is as locked down as KAITO's own pods: only the volume is judged.
    assert requests[0].pod["spec"]["securityContext"]["runAsNonRoot"] is True


async def test_subject_access_review_carries_the_whole_user() -> None:
    client = FakeClient(allowed=False)
    ws = inference()
    ws["inference"] = {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
    errors, _ = await _authorizer(client).check(ws, USER, "team")
    assert client.reviews == [
        {
            "user": "alice",
            "uid": "u-1",
            "groups": ["devs", "system:authenticated"],
            "extra": {"scopes": ["a"]},
            "resourceAttributes": {"namespace": "team", "verb": "create", "resource": "pods"},
        }
    ]
    assert errors == [
        "inference.template: user 'alice' may not create pods in namespace 'team' (RBAC: no); a Workspace "
        "with a template or a volumeSource runs a pod of your making, so it needs that right (use a preset "
        "and urls or image data sources instead)"
    ]
    assert client.pods == [], "no dry run for a user who may not create pods"


async def test_dry_run_is_strict_and_persists_nothing() -> None:
    client = FakeClient()
    ws = inference()
    ws["inference"] = {"template": {"metadata": {"name": "mine"}, "spec": {"containers": [{"name": "c"}]}}}
    errors, _ = await _authorizer(client).check(ws, USER, "team")
    assert errors == []
    (request,) = client.pods
    assert request["namespace"] == "team" and request["dry_run"] is True and request["strict"] is True
    assert request["body"]["metadata"]["generateName"] == "kaito-admission-"
    assert "name" not in request["body"]["metadata"]


async def test_apiserver_field_paths_become_workspace_field_paths() -> None:
    body = {
        "details": {
            "causes": [
                {
                    "field": "spec.volumes[0].persistentVolumeClaim",
                    "message": "Forbidden: more than 1 volume type",
                },
                {"field": "spec.containers[0].volumeMounts[0].name", "message": "Not found: data"},
            ]
        }
    }
    client = FakeClient(error=ApiError(422, "Invalid", "invalid", body))
    ws = seed()
    ws["tuning"]["input"] = {"volumeSource": {"emptyDir": {}, "persistentVolumeClaim": {"claimName": "d"}}}
    errors, _ = await _authorizer(client).check(ws, USER, "team")
    assert errors == ["tuning.input.volumeSource.persistentVolumeClaim: Forbidden: more than 1 volume type"]


async def test_pod_security_and_decoding_refusals_name_the_field() -> None:
    ws = inference()
    ws["inference"] = {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
    message = (
        'pods "kaito-admission-x" is forbidden: violates PodSecurity "restricted:latest": host namespaces'
    )
    errors, _ = await _authorizer(FakeClient(error=ApiError(403, "Forbidden", message))).check(
        ws, USER, "team"
    )
    assert errors == [
        "inference.template: the pod would violate the Pod Security level of namespace 'team': violates "
        'PodSecurity "restricted:latest": host namespaces'
    ]
    decoding = ApiError(400, "BadRequest", 'strict decoding error: unknown field "spec.containres"')
    errors, _ = await _authorizer(FakeClient(error=decoding)).check(ws, USER, "team")
    assert errors == [
        "inference.template: not a valid PodTemplateSpec: strict decoding error: "
        'unknown field "spec.containres"'
    ]
    errors, _ = await _authorizer(FakeClient(error=ApiError(503, "ServiceUnavailable"))).check(
        ws, USER, "team"
    )
    assert errors and errors[0].startswith("inference.template: could not check the pod"), errors


async def test_quota_only_warns_and_a_webhook_without_dry_run_refuses() -> None:
    ws = inference()
    ws["inference"] = {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
    quota = ApiError(403, "Forbidden", 'pods "p" is forbidden: exceeded quota: pods, requested: pods=1')
    errors, warnings = await _authorizer(FakeClient(error=quota)).check(ws, USER, "team")
    assert errors == [] and warnings[0].startswith("inference.template: the namespace's quota is exhausted")
    no_dry_run = ApiError(400, "BadRequest", 'admission webhook "x.example.com" does not support dry run')
    errors, _ = await _authorizer(FakeClient(error=no_dry_run)).check(ws, USER, "team")
    assert errors[0].startswith("inference.template: could not check the pod") and "dry run" in errors[0]


async def test_push_secret_must_be_readable_and_a_docker_config() -> None:
    ws = seed()
    ws["tuning"]["output"]["imagePushSecret"] = "creds"
    errors, warnings = await _authorizer(
        FakeClient(secrets={"creds": "kubernetes.io/dockerconfigjson"})
    ).check(ws, USER, "team")
    assert (errors, warnings) == ([], [])
    errors, _ = await _authorizer(FakeClient(secrets={"creds": "Opaque"})).check(ws, USER, "team")
    assert errors and "must be of type kubernetes.io/dockerconfigjson" in errors[0]
    # Not there yet: upstream's examples create it afterwards; the push waits for it.
    errors, warnings = await _authorizer(FakeClient(secrets={})).check(ws, USER, "team")
    assert errors == [] and "not found" in warnings[0]
    # The shipped RBAC reads no Secrets: admitted, and the author is told the type was not verified.
    errors, warnings = await _authorizer(FakeClient()).check(ws, USER, "team")
    assert errors == [] and "was not verified" in warnings[0]
    client = FakeClient(allowed=False, secrets={"creds": "kubernetes.io/dockerconfigjson"})
    errors, _ = await _authorizer(client).check(ws, USER, "team")
    assert errors[0].startswith("tuning.output.imagePushSecret: user 'alice' may not get Secret 'creds'")
    assert client.reviews[0]["resourceAttributes"] == {
        "namespace": "team",
        "verb": "get",
        "resource": "secrets",
        "name": "creds",
    }
