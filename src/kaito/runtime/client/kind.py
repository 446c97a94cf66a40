"""The resource descriptor every call takes: which API group/version/kind, its plural and scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Kind:
    """A group/version/kind with the REST facts needed to build URLs.

    Args:
        group: API group, ``""`` for the core group.
        version: API version, e.g. ``"v1"``.
        kind: the object's ``kind``, e.g. ``"ConfigMap"``.
        plural: the REST resource name, e.g. ``"configmaps"``.
        namespaced: whether objects live in a namespace.
        builtin: True for Kubernetes' own kinds, which accept strategic-merge patches (CRDs do not).
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    builtin: bool = False

    @property
    def api_version(self) -> str:
        """``apiVersion`` as written in objects: ``"v1"`` or ``"apps/v1"``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        """``Kind.group`` (``"Deployment.apps"``, ``"Pod"``); owners are matched on group and kind only."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def __str__(self) -> str:
        return f"{self.api_version}/{self.kind}"

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path. For namespaced kinds without a namespace it is the all-namespaces collection."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base

    def matches(self, obj: dict[str, Any]) -> bool:
        """Whether ``obj`` declares this kind (group and kind; the version is ignored)."""
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.rpartition("/")[0]
        return obj.get("kind") == self.kind and group == self.group

    def stamp(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Returns ``obj`` with ``apiVersion``/``kind`` filled in (a shallow copy if they were missing)."""
        if obj.get("apiVersion") == self.api_version and obj.get("kind") == self.kind:
            return obj
        return {**obj, "apiVersion": self.api_version, "kind": self.kind}


def object_key(obj: dict[str, Any]) -> str:
    """The cache key of an object: ``namespace/name``, or ``name`` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = str(meta.get("name", ""))
    return f"{ns}/{name}" if ns else name
