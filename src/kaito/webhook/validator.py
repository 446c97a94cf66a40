"""Catalog-aware Workspace validation: what CEL in the CRD cannot know.

The CRD already enforces structure (one of inference/tuning, immutability, data-source shape);
this layer checks the Workspace against the model and instance-type catalogs, the tuning
ConfigMap and the data URLs. Every message names the field and says what would be accepted.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
import yaml
from pydantic import ValidationError

from kaito.api import ANNOTATION_BYPASS_RESOURCE_CHECKS, PresetSpec, Workspace
from kaito.api.labels import is_reserved, selector_problems
from kaito.catalog import (
    Catalog,
    InstanceType,
    ModelPreset,
    check_inference_fit,
    check_tuning_fit,
    suggest_instance_types,
)
from kaito.egress import EgressPolicy
from kaito.webhook.admission import UserInfo
from kaito.webhook.authz import Authorizer
from kaito.webhook.images import ImageReference, parse_reference
from kaito.webhook.tuning_config import CONFIG_KEY, check_training_config, yaml_position
from kaito.webhook.urls import check_registry_host, check_url

log = structlog.get_logger(__name__)

# Reads a ConfigMap's data; None when it does not exist.
ConfigMapReader = Callable[[str, str], Awaitable[Mapping[str, str] | None]]

_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SPEC_KEYS = ("resource", "inference", "tuning")
# What the catalog checks depend on.
_PLACEMENT_KEYS = ("resource", "inference.preset", "tuning.preset", "tuning.method")
INFERENCE_CONFIG_KEY = "inference_config.yaml"


@dataclass
class Verdict:
    """The outcome of validating one object."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        """True when there are no errors."""
        return not self.errors


class WorkspaceValidator:
    """Validates Workspace objects (as apiserver JSON) against the catalogs."""

    def __init__(
        self,
        catalog: Catalog,
        read_config_map: ConfigMapReader | None = None,
        egress: EgressPolicy | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        """``egress``: the operator's allow-list for data and push destinations. ``authorizer``: checks
        that the author could create the pods a template or volumeSource asks for; without it (unit
        tests) those checks are skipped."""
        self._catalog = catalog
        self._read_config_map = read_config_map
        self._egress = egress or EgressPolicy()
        self._authorizer = authorizer

    async def validate(
        self, obj: Mapping[str, Any], old: Mapping[str, Any] | None = None, user: UserInfo | None = None
    ) -> Verdict:
        """Validate a CREATE (``old`` None) or UPDATE of a Workspace by ``user``."""
        verdict = Verdict()
        metadata = obj.get("metadata") or {}
        if metadata.get("deletionTimestamp"):
            # Never block finalizer removal: a Workspace must always be deletable.
            return verdict
        if old is not None and all(obj.get(k) == old.get(k) for k in _SPEC_KEYS):
            # Metadata-only update (labels, finalizers): the spec was already admitted.
            return verdict
        try:
            workspace = Workspace.model_validate(obj)
        except ValidationError as exc:
            verdict.errors += [_pydantic_error(e) for e in exc.errors()]
            return verdict

        self._check_name(workspace, verdict, creating=old is None)
        # CEL makes instance type, count and preset immutable, so on an update they are what was
        # admitted at creation; re-judging them against a newer catalog would make a running
        # Workspace impossible to edit (or to have its mutable fields fixed).
        recheck = old is None or any(_placement(obj, k) != _placement(old, k) for k in _PLACEMENT_KEYS)
        instance = self._check_instance_type(workspace, verdict) if recheck else None
        if workspace.inference is not None:
            await self._check_inference(workspace, instance, verdict, recheck)
        if workspace.tuning is not None:
            await self._check_tuning(workspace, instance, verdict, recheck)
        self._check_selector(obj, verdict)
        self._check_images(obj, verdict)
        if self._authorizer is not None and user is not None and verdict.allowed and _grants_pods(obj, old):
            errors, warnings = await self._authorizer.check(obj, user, workspace.namespace)
            verdict.errors += errors
            verdict.warnings += warnings
        return verdict

    # --- pieces ------------------------------------------------------------------------------------

    @staticmethod
    def _check_selector(obj: Mapping[str, Any], verdict: Verdict) -> None:
        selector = _placement(obj, "resource.labelSelector")
        if not isinstance(selector, Mapping):
            return
        verdict.errors += selector_problems(selector, "resource.labelSelector")
        reserved = sorted(str(k) for k in (selector.get("matchLabels") or {}) if is_reserved(str(k)))
        if reserved:
            verdict.warnings.append(
                f"resource.labelSelector.matchLabels: {', '.join(reserved)} are reserved by Kubernetes and "
                "are not stamped on the nodes KAITO provisions; only nodes that already carry them match"
            )

    def _check_images(self, obj: Mapping[str, Any], verdict: Verdict) -> None:
        for path in _IMAGE_FIELDS:
            for field_path, value in _values_at(obj, path):
                if not isinstance(value, str):
                    continue
                parsed = parse_reference(value)
                if not isinstance(parsed, ImageReference):
                    verdict.errors.append(f"{field_path}: {parsed}")
                elif field_path == "tuning.output.image":
                    _check_push_target(value, parsed, field_path, verdict, self._egress)

    @staticmethod
    def _check_name(workspace: Workspace, verdict: Verdict, creating: bool) -> None:
        name = workspace.name
        if creating and name and (len(name) > 63 or not _DNS1035_LABEL.match(name)):
            verdict.errors.append(
                f"metadata.name: {name!r} is not a valid Workspace name; it names the inference Service, "
                "so it must be at most 63 lower-case letters, digits or '-', start with a letter and "
                "end with a letter or digit"
            )

    def _check_instance_type(self, workspace: Workspace, verdict: Verdict) -> InstanceType | None:
        name = workspace.resource.instance_type
        instance = self._catalog.instance_type(name)
        if instance is None:
            close = self._catalog.close_matches(name)
            hint = f"did you mean: {', '.join(close)}?" if close else "no close match"
            verdict.errors.append(
                f"resource.instanceType: unknown instance type {name!r} ({hint}); supported instance "
                f"types: {', '.join(t.name for t in self._catalog.instance_types)}"
            )
        return instance

    def _model(self, preset: PresetSpec, path: str, verdict: Verdict) -> ModelPreset | None:
        model = self._catalog.model(preset.name)
        if model is None:
            close = self._catalog.close_model_matches(preset.name)
            hint = f"did you mean: {', '.join(close)}? " if close else ""
            verdict.errors.append(
                f"{path}.name: unknown preset {preset.name!r}; {hint}supported presets: "
                f"{', '.join(m.name for m in self._catalog.models if not m.deprecated)}"
            )
            return None
        if model.deprecated:
            verdict.errors.append(f"{path}.name: preset {model.name!r} is deprecated; choose another preset")
        if model.access_mode == "private" and (
            preset.access_mode != "private"
            or preset.preset_options is None
            or not preset.preset_options.image
        ):
            verdict.errors.append(
                f"{path}.presetOptions.image: preset {model.name!r} is private: its image is not published, "
                "so set accessMode: private and presetOptions.image to the image you built "
                "(and presetOptions.imagePullSecrets if the registry needs them)"
            )
        return model

    def _fit(
        self, workspace: Workspace, verdict: Verdict, problems: list[str], suggestions: list[str]
    ) -> None:
        if not problems:
            return
        hint = f"; instance types that fit: {', '.join(suggestions)}" if suggestions else ""
        messages = [f"{p}{hint}" for p in problems]
        annotations = workspace.metadata.annotations or {}
        if ANNOTATION_BYPASS_RESOURCE_CHECKS in annotations:
            verdict.warnings += [
                f"{m} (admitted because of {ANNOTATION_BYPASS_RESOURCE_CHECKS})" for m in messages
            ]
        else:
            verdict.errors += messages

    async def _check_inference(
        self, workspace: Workspace, instance: InstanceType | None, verdict: Verdict, recheck: bool
    ) -> None:
        inference = workspace.inference
        assert inference is not None
        if inference.preset is not None and recheck:
            model = self._model(inference.preset, "inference.preset", verdict)
            if model is not None and instance is not None:
                problems = check_inference_fit(model, instance)
                suggestions = (
                    suggest_instance_types(self._catalog, model, cloud=instance.cloud) if problems else []
                )
                self._fit(workspace, verdict, [f"{p.field}: {p.message}" for p in problems], suggestions)
        for index, adapter in enumerate(inference.adapters or []):
            self._check_urls(adapter.source.urls, f"inference.adapters[{index}].source.urls", verdict)
        if inference.config:
            await self._check_inference_config(workspace, inference.config, verdict)

    async def _check_tuning(
        self, workspace: Workspace, instance: InstanceType | None, verdict: Verdict, recheck: bool
    ) -> None:
        tuning = workspace.tuning
        assert tuning is not None
        model = self._model(tuning.preset, "tuning.preset", verdict) if recheck else None
        if model is not None:
            if model.tuning is None or model.tuning_method(tuning.method) is None:
                methods = sorted(model.tuning.methods) if model.tuning else []
                tunable = [m.name for m in self._catalog.models if m.tuning_method(tuning.method)]
                accepted = f"it supports: {', '.join(methods)}" if methods else "it cannot be fine-tuned"
                verdict.errors.append(
                    f"tuning.method: preset {model.name!r} does not support {tuning.method!r} tuning "
                    f"({accepted}); presets that support {tuning.method}: {', '.join(tunable)}"
                )
            elif instance is not None:
                problems = check_tuning_fit(model, instance, tuning.method)
                suggestions = (
                    suggest_instance_types(self._catalog, model, method=tuning.method, cloud=instance.cloud)
                    if problems
                    else []
                )
                self._fit(workspace, verdict, [f"{p.field}: {p.message}" for p in problems], suggestions)
        self._check_urls(tuning.input.urls, "tuning.input.urls", verdict)
        if tuning.config:
            await self._check_config_map(workspace, tuning.config, tuning.method, verdict)

    def _check_urls(self, urls: list[str] | None, path: str, verdict: Verdict) -> None:
        for index, url in enumerate(urls or []):
            problem = check_url(url, self._egress)
            if problem is not None:
                verdict.errors.append(f"{path}[{index}]: {problem}")

    async def _read(
        self, workspace: Workspace, name: str, path: str, key: str, verdict: Verdict
    ) -> Mapping[str, str] | None:
        if self._read_config_map is None:
            return None
        namespace = workspace.namespace
        try:
            data = await self._read_config_map(namespace, name)
        except Exception as exc:
            # The check is about the user's mistake, not our connectivity; say which it is.
            log.warning("reading ConfigMap failed", namespace=namespace, name=name, error=str(exc))
            verdict.errors.append(
                f"{path}: could not read ConfigMap {name!r} in namespace {namespace!r} to check it "
                f"({exc}); retry, or check the controller's RBAC for configmaps"
            )
            return None
        if data is None:
            verdict.errors.append(
                f"{path}: ConfigMap {name!r} not found in namespace {namespace!r}; create it with a "
                f"{key} key, or leave {path} empty to use the default"
            )
        return data

    async def _check_config_map(self, workspace: Workspace, name: str, method: str, verdict: Verdict) -> None:
        data = await self._read(workspace, name, "tuning.config", CONFIG_KEY, verdict)
        if data is not None:
            verdict.errors += check_training_config(data, method)

    async def _check_inference_config(self, workspace: Workspace, name: str, verdict: Verdict) -> None:
        data = await self._read(workspace, name, "inference.config", INFERENCE_CONFIG_KEY, verdict)
        if data is None:
            return
        if INFERENCE_CONFIG_KEY not in data:
            verdict.errors.append(
                f"inference.config: ConfigMap {name!r} must have the key {INFERENCE_CONFIG_KEY}"
            )
            return
        try:
            document = yaml.safe_load(data[INFERENCE_CONFIG_KEY])
        except yaml.YAMLError as exc:
            verdict.errors.append(
                f"inference.config ({INFERENCE_CONFIG_KEY}): not valid YAML{yaml_position(exc)}"
            )
            return
        if document is not None and not isinstance(document, dict):
            verdict.errors.append(f"inference.config ({INFERENCE_CONFIG_KEY}): must be a mapping of settings")


# Every image reference a Workspace may carry; "[]" walks a list.
_IMAGE_FIELDS = (
    "inference.preset.presetOptions.image",
    "inference.adapters[].source.image",
    "tuning.preset.presetOptions.image",
    "tuning.input.image",
    "tuning.output.image",
)


def _values_at(obj: Any, path: str, prefix: str = "") -> list[tuple[str, Any]]:
    """(field path, value) for each value at ``path`` in ``obj``."""
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    key = head.removesuffix("[]")
    node = obj.get(key) if isinstance(obj, Mapping) else None
    where = f"{prefix}.{key}" if prefix else key
    if node is None:
        return []
    nodes = list(enumerate(node)) if many and isinstance(node, list) else [(None, node)]
    found: list[tuple[str, Any]] = []
    for index, item in nodes:
        at = f"{where}[{index}]" if index is not None else where
        found += _values_at(item, rest, at) if rest else [(at, item)]
    return found


def _check_push_target(
    value: str, reference: ImageReference, field_path: str, verdict: Verdict, egress: EgressPolicy
) -> None:
    # The pusher connects from inside the cluster, with credentials: the same egress policy as input URLs.
    if reference.digest or not reference.tag:
        verdict.errors.append(
            f"{field_path}: must name a tag to push to and no digest, e.g. registry/repo:0.0.1"
        )
    problem = check_registry_host(value, egress)
    if problem is not None:
        verdict.errors.append(
            f"{field_path}: {problem}; push to a public registry or one on the operator's egress allow-list"
        )


def _grants_pods(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """Whether this write asks for a pod of the author's making or a push with a Secret (tuning input and
    output are immutable, so on an update only a changed template counts)."""
    if old is None:
        return True
    return bool(_placement(obj, "inference.template") != _placement(old, "inference.template"))


def _placement(obj: Mapping[str, Any], key: str) -> Any:
    node: Any = obj
    for part in key.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _pydantic_error(error: Any) -> str:
    path = ".".join(str(p) for p in error.get("loc", ()))
    return f"{path or '<root>'}: {error.get('msg', 'invalid')}"
