"""The Workspace (kaito.sh/v1alpha1): what users write to get a model served or fine-tuned.

Upstream quirk kept on purpose: there is no ``spec``; ``resource``, ``inference`` and ``tuning`` sit
at the top level, so existing KAITO manifests apply unchanged. Field descriptions here become the
CRD's descriptions (``kubectl explain``) and the CEL rules become its ``x-kubernetes-validations``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from kaito.api.base import Condition, KubeModel, LabelSelector, ObjectMeta
from kaito.api.cel import DNS1123_LABEL_PATTERN, PRESERVE_UNKNOWN_OBJECT, immutable, rule, validations
from kaito.api.constants import MAX_ADAPTERS, WORKSPACE_API_VERSION, WORKSPACE_KIND

# Bounds keep the apiserver's CEL cost estimate finite; they are far above any real use.
_MAX_NAME = 253
_MAX_URL = 2048
_MAX_URLS = 1000
_MAX_IMAGE = 512
_MAX_SECRETS = 16
_MAX_NODES = 100

DEFAULT_INSTANCE_TYPE = "Standard_NC12s_v3"
# What upstream accepts for images it pulls adapters from or pushes results to: something/name:tag.
# Deliberately loose (no case rules) so that placeholder manifests such as the docs' seed apply.
IMAGE_WITH_TAG_PATTERN = "^(.+/[^:/]+):([^:/]+)$"

AccessMode = Literal["public", "private"]
TuningMethod = Literal["lora", "qlora"]
WorkspaceState = Literal[
    "Pending", "Provisioning", "Running", "Ready", "NotReady", "Succeeded", "Failed", "Deleting"
]

SecretName = Annotated[str, Field(min_length=1, max_length=_MAX_NAME)]
Url = Annotated[str, Field(min_length=1, max_length=_MAX_URL)]
NodeName = Annotated[str, Field(min_length=1, max_length=_MAX_NAME)]
Schemaless = Annotated[dict[str, Any], PRESERVE_UNKNOWN_OBJECT]


class ResourceSpec(KubeModel):
    """The GPU nodes the workload runs on: how many, of which instance type, selected by which labels."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.count == oldSelf.count",
                "resource.count is immutable: delete and recreate the Workspace to change it",
                field_path=".count",
                reason="FieldValueForbidden",
            ),
            rule(
                "self.instanceType == oldSelf.instanceType",
                "resource.instanceType is immutable: delete and recreate the Workspace to change it",
                field_path=".instanceType",
                reason="FieldValueForbidden",
            ),
            rule(
                "self.labelSelector == oldSelf.labelSelector",
                "resource.labelSelector is immutable: delete and recreate the Workspace to change it",
                field_path=".labelSelector",
                reason="FieldValueForbidden",
            ),
            rule(
                "(has(self.labelSelector.matchLabels) && size(self.labelSelector.matchLabels) > 0) || "
                "(has(self.labelSelector.matchExpressions) && size(self.labelSelector.matchExpressions) > 0)",
                "resource.labelSelector must hold at least one matchLabels entry or matchExpressions "
                "requirement: an empty selector would select every node",
                field_path=".labelSelector",
                reason="FieldValueRequired",
            ),
        )
    )

    count: int = Field(
        default=1,
        ge=1,
        le=_MAX_NODES,
        description="Number of GPU nodes. Inference runs one replica on each, every replica holding the "
        "whole model (multi-node inference, one model sharded over several nodes, is not supported), and "
        "the Service spreads requests over them. Defaults to 1; tuning supports only 1. Immutable.",
    )
    instance_type: str = Field(
        default=DEFAULT_INSTANCE_TYPE,
        min_length=1,
        max_length=128,
        description="Cloud instance type (VM size) of the GPU nodes, e.g. Standard_NC24ads_A100_v4 or "
        "p4d.24xlarge. It must be in KAITO's instance-type catalog and have enough GPU memory for the "
        "preset. Immutable.",
    )
    label_selector: LabelSelector = Field(
        description="Selects the nodes that run the workload. Nodes KAITO provisions get labels that match "
        "it (matchLabels, and a value for In and Exists expressions), except keys under kubernetes.io/ "
        "and k8s.io/, which Kubernetes reserves. Required and immutable."
    )
    preferred_nodes: list[NodeName] | None = Field(
        default=None,
        max_length=_MAX_NODES,
        description="Existing nodes to use before provisioning new ones. Nodes that do not match "
        "labelSelector are ignored.",
    )


class PresetOptions(KubeModel):
    """Options for a preset whose image is private."""

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_IMAGE,
        description="Full image reference of a private preset (registry/repository:tag). Required when "
        "accessMode is private.",
    )
    image_pull_secrets: list[SecretName] | None = Field(
        default=None,
        max_length=_MAX_SECRETS,
        description="Names of Secrets in the Workspace's namespace used to pull the private image.",
    )


class PresetSpec(KubeModel):
    """A model from KAITO's preset catalog."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.accessMode != 'private' || (has(self.presetOptions) && has(self.presetOptions.image))",
                "presetOptions.image is required when accessMode is private: give the full image "
                "reference of the private preset",
                field_path=".presetOptions.image",
                reason="FieldValueRequired",
            ),
        )
    )

    name: str = Field(
        min_length=1,
        max_length=128,
        description="Name of the preset model, e.g. phi-3-mini-4k-instruct or falcon-7b. It must be in "
        "KAITO's model catalog.",
    )
    access_mode: AccessMode = Field(
        default="public",
        description="Whether the preset image is public (pulled from KAITO's registry) or private (the "
        "image in presetOptions is used). Defaults to public.",
    )
    preset_options: PresetOptions | None = Field(
        default=None, description="Image options for private presets."
    )


class DataSource(KubeModel):
    """Where data comes from: exactly one of urls, image or volumeSource."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "(has(self.urls) ? 1 : 0) + (has(self.image) ? 1 : 0) + "
                "(has(self.volumeSource) ? 1 : 0) == 1",
                "exactly one of urls, image or volumeSource must be set",
                field_path=".urls",
                reason="FieldValueInvalid",
            ),
        )
    )

    name: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS1123_LABEL_PATTERN,
        description="Name of the data source; also used as a container name, so it must be a DNS-1123 "
        "label (lower-case letters, digits and '-'). Required for adapters.",
    )
    urls: list[Url] | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_URLS,
        description="http(s) URLs of files to download. Addresses on loopback, link-local, private "
        "networks or cloud metadata endpoints are rejected.",
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_IMAGE,
        description="Image holding the data under /data.",
    )
    image_pull_secrets: list[SecretName] | None = Field(
        default=None,
        max_length=_MAX_SECRETS,
        description="Names of Secrets in the Workspace's namespace used to pull the image.",
    )
    volume_source: Schemaless | None = Field(
        default=None,
        description="A Kubernetes VolumeSource (e.g. persistentVolumeClaim) holding the data.",
    )


class DataDestination(KubeModel):
    """Where tuning results go: exactly one of image or volumeSource."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "(has(self.image) ? 1 : 0) + (has(self.volumeSource) ? 1 : 0) == 1",
                "exactly one of image or volumeSource must be set",
                field_path=".image",
                reason="FieldValueInvalid",
            ),
            rule(
                f"!has(self.image) || self.image.matches('{IMAGE_WITH_TAG_PATTERN}')",
                "image must be a full reference <registry>/<repository>:<tag> to push to, e.g. "
                "myregistry.azurecr.io/phi-3-adapter:0.0.1",
                field_path=".image",
                reason="FieldValueInvalid",
            ),
            rule(
                "!has(self.image) || has(self.imagePushSecret)",
                "imagePushSecret is required when image is set: name a Secret holding .dockerconfigjson",
                field_path=".imagePushSecret",
                reason="FieldValueRequired",
            ),
        )
    )

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_IMAGE,
        description="Image reference (registry/repository:tag) the tuned adapter is pushed to.",
    )
    image_push_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_NAME,
        description="Name of a Secret in the Workspace's namespace with a .dockerconfigjson allowed to push "
        "the image. Required with image.",
    )
    volume_source: Schemaless | None = Field(
        default=None,
        description="A Kubernetes VolumeSource (e.g. persistentVolumeClaim) that receives the results.",
    )


class AdapterSpec(KubeModel):
    """A LoRA adapter loaded next to the preset model."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.source.name)",
                "source.name is required for an adapter: it names the adapter and its init container",
                field_path=".source.name",
                reason="FieldValueRequired",
            ),
            rule(
                f"!has(self.source.image) || self.source.image.matches('{IMAGE_WITH_TAG_PATTERN}')",
                "source.image must be a full reference <registry>/<repository>:<tag>, e.g. "
                "myregistry.azurecr.io/my-adapter:0.0.1",
                field_path=".source.image",
                reason="FieldValueInvalid",
            ),
            rule(
                "has(self.source.image)",
                "source.image is required for an adapter: adapters are loaded from an image holding "
                "them under /data",
                field_path=".source.image",
                reason="FieldValueRequired",
            ),
        )
    )

    source: DataSource = Field(
        description="Where the adapter comes from: an image with the adapter in /data."
    )
    strength: str | None = Field(
        default=None,
        max_length=32,
        pattern=r"^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$",
        description='Weight of the adapter, a decimal between 0 and 1 written as a string, e.g. "0.5". '
        "Defaults to 1.0.",
    )


class InferenceSpec(KubeModel):
    """Serve a model: a preset from the catalog or a custom pod template."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.preset) != has(self.template)",
                "exactly one of inference.preset or inference.template must be set",
                field_path=".preset",
                reason="FieldValueInvalid",
            ),
            immutable("preset", "inference.preset"),
            rule(
                "has(self.template) == has(oldSelf.template)",
                "inference.template cannot be added or removed after creation (it may be changed)",
                field_path=".template",
                reason="FieldValueForbidden",
            ),
            rule(
                "!has(self.adapters) || has(self.preset)",
                "inference.adapters need inference.preset: adapters cannot be used with a template",
                field_path=".adapters",
                reason="FieldValueForbidden",
            ),
        )
    )

    preset: PresetSpec | None = Field(
        default=None, description="A preset model from KAITO's catalog. Immutable. Not with template."
    )
    template: Schemaless | None = Field(
        default=None,
        description="A full PodTemplateSpec for a custom inference workload, kept verbatim. Not with preset.",
    )
    config: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_NAME,
        description="Name of a ConfigMap in the Workspace's namespace holding inference_config.yaml.",
    )
    adapters: list[AdapterSpec] | None = Field(
        default=None,
        max_length=MAX_ADAPTERS,
        description=f"LoRA adapters to load with the preset, at most {MAX_ADAPTERS}, with unique names.",
        json_schema_extra=validations(
            rule(
                "self.all(a, !has(a.source.name) || "
                "self.exists_one(b, has(b.source.name) && b.source.name == a.source.name))",
                "adapter names (source.name) must be unique",
                # FieldValueDuplicate would print only the value ("array"), dropping this message.
                reason="FieldValueInvalid",
            ),
        ),
    )


class TuningSpec(KubeModel):
    """Fine-tune a preset model with LoRA or QLoRA and publish the adapter."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.preset == oldSelf.preset",
                "tuning.preset is immutable: delete and recreate the Workspace to change it",
                field_path=".preset",
                reason="FieldValueForbidden",
            ),
            rule(
                "self.method == oldSelf.method",
                "tuning.method is immutable: delete and recreate the Workspace to change it",
                field_path=".method",
                reason="FieldValueForbidden",
            ),
            rule(
                "self.input == oldSelf.input",
                "tuning.input is immutable: delete and recreate the Workspace to change it",
                field_path=".input",
                reason="FieldValueForbidden",
            ),
            rule(
                "self.output == oldSelf.output",
                "tuning.output is immutable: delete and recreate the Workspace to change it",
                field_path=".output",
                reason="FieldValueForbidden",
            ),
        )
    )

    preset: PresetSpec = Field(description="The preset model to fine-tune. Immutable.")
    method: TuningMethod = Field(
        description="Fine-tuning method: lora, or qlora (LoRA on a 4/8-bit quantised model). Immutable."
    )
    config: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_NAME,
        description="Name of a ConfigMap in the Workspace's namespace with training_config.yaml. When empty, "
        "the default template for the method is used.",
    )
    input: DataSource = Field(
        description="The training data: exactly one of urls, image or volumeSource. Immutable."
    )
    output: DataDestination = Field(
        description="Where the tuned adapter goes: exactly one of image (with imagePushSecret) or "
        "volumeSource. Immutable."
    )


class WorkspaceStatus(KubeModel):
    """What the controller observed."""

    worker_nodes: list[str] | None = Field(
        default=None, description="Names of the nodes running the workload."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Conditions: ResourceReady, InferenceReady, JobStarted, WorkspaceReady, "
        "WorkspaceDeleting.",
        # A map keyed by type lets server-side apply merge one condition without clobbering others.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    state: WorkspaceState | None = Field(
        default=None,
        description="Summary of the conditions: Pending (nothing started), Provisioning (GPU nodes on their "
        "way), Running (workload started), Ready (inference serving), Succeeded or Failed (tuning), "
        "Deleting (finalizer releasing the nodes). NotReady is accepted for upstream compatibility.",
    )
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the status was computed from."
    )
    output_image: str | None = Field(
        default=None,
        description="What a tuning Workspace pushed: tuning.output.image's repository with the digest the "
        "registry gave (<registry>/<repository>@sha256:...), to use as an inference adapter's source.image.",
    )


class Workspace(KubeModel):
    """A Workspace runs a model on GPU nodes that KAITO provisions: inference (serve a preset or a custom
    pod template) or tuning (LoRA/QLoRA fine-tuning of a preset). Exactly one of inference or tuning."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.inference) != has(self.tuning)",
                "exactly one of inference or tuning must be set",
                field_path=".inference",
                reason="FieldValueInvalid",
            ),
            rule(
                "has(self.inference) == has(oldSelf.inference) && has(self.tuning) == has(oldSelf.tuning)",
                "a Workspace cannot switch between inference and tuning after creation",
                field_path=".tuning",
                reason="FieldValueForbidden",
            ),
            rule(
                "!has(self.tuning) || self.resource.count == 1",
                "resource.count must be 1 for tuning: multi-node tuning is not supported",
                field_path=".resource.count",
                reason="FieldValueInvalid",
            ),
        )
    )

    api_version: str = Field(default=WORKSPACE_API_VERSION)
    kind: str = Field(default=WORKSPACE_KIND)
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    resource: ResourceSpec = Field(description="The GPU nodes the workload runs on.")
    inference: InferenceSpec | None = Field(
        default=None, description="Serve a model. Exactly one of inference or tuning; cannot be switched."
    )
    tuning: TuningSpec | None = Field(
        default=None,
        description="Fine-tune a preset model. Exactly one of inference or tuning; cannot be switched.",
    )
    status: WorkspaceStatus | None = Field(default=None, description="What the controller observed.")

    @property
    def name(self) -> str:
        """metadata.name, or '' when unset."""
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        """metadata.namespace, or '' when unset."""
        return self.metadata.namespace or ""

    @property
    def preset(self) -> PresetSpec | None:
        """The preset of whichever of inference or tuning is set."""
        if self.inference is not None:
            return self.inference.preset
        if self.tuning is not None:
            return self.tuning.preset
        return None


class WorkspaceList(KubeModel):
    """A list of Workspaces as returned by the apiserver."""

    api_version: str = Field(default=WORKSPACE_API_VERSION)
    kind: str = Field(default="WorkspaceList")
    metadata: dict[str, Any] | None = None
    items: list[Workspace] = Field(default_factory=list)
