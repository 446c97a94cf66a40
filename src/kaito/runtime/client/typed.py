"""Typed access for pydantic custom resources: the dict client plus ``model_validate``/``model_dump``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from kaito.runtime.client.kind import Kind

if TYPE_CHECKING:
    from kaito.runtime.client.client import Client

M = TypeVar("M", bound=BaseModel)


def to_dict(model: BaseModel) -> dict[str, Any]:
    """Serialises a model the way the apiserver expects: camelCase aliases, no nulls."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def from_dict(model: type[M], obj: dict[str, Any]) -> M:
    """Parses an API dict into ``model``."""
    return model.model_validate(obj)


class TypedClient(Generic[M]):
    """The :class:`Client` operations for one custom kind, taking and returning pydantic models."""

    def __init__(self, client: Client, kind: Kind, model: type[M]) -> None:
        self.client = client
        self.kind = kind
        self.model = model

    async def get(self, namespace: str | None, name: str) -> M:
        return from_dict(self.model, await self.client.get(self.kind, namespace, name))

    async def get_or_none(self, namespace: str | None, name: str) -> M | None:
        obj = await self.client.get_or_none(self.kind, namespace, name)
        return None if obj is None else from_dict(self.model, obj)

    async def list(self, namespace: str | None = None, *, label_selector: str | None = None) -> list[M]:
        result = await self.client.list(self.kind, namespace, label_selector=label_selector)
        return [from_dict(self.model, item) for item in result["items"]]

    async def create(self, obj: M) -> M:
        return from_dict(self.model, await self.client.create(self.kind, to_dict(obj)))

    async def update(self, obj: M) -> M:
        return from_dict(self.model, await self.client.update(self.kind, to_dict(obj)))

    async def update_status(self, obj: M) -> M:
        return from_dict(self.model, await self.client.update_status(self.kind, to_dict(obj)))

    async def apply(self, obj: M, *, force: bool = True) -> M:
        return from_dict(self.model, await self.client.apply(self.kind, to_dict(obj), force=force))

    async def apply_status(self, obj: M, *, force: bool = True) -> M:
        return from_dict(self.model, await self.client.apply_status(self.kind, to_dict(obj), force=force))

    async def patch(self, namespace: str | None, name: str, patch: dict[str, Any]) -> M:
        return from_dict(self.model, await self.client.patch(self.kind, namespace, name, patch))

    async def patch_status(self, namespace: str | None, name: str, patch: dict[str, Any]) -> M:
        return from_dict(self.model, await self.client.patch_status(self.kind, namespace, name, patch))

    async def delete(
        self, namespace: str | None, name: str, *, propagation_policy: str | None = None
    ) -> bool:
        return await self.client.delete(self.kind, namespace, name, propagation_policy=propagation_policy)
