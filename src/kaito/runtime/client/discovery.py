"""Resolves any apiVersion/kind to a :class:`Kind` through the discovery API, cached per group-version."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kaito.runtime.client.errors import NotFoundError
from kaito.runtime.client.kind import Kind
from kaito.runtime.client.kinds import ALL as BUILTIN_KINDS

if TYPE_CHECKING:
    from kaito.runtime.client.transport import Transport


class UnknownKindError(LookupError):
    """The apiserver does not serve the requested apiVersion/kind."""


class Discovery:
    """A lazily filled RESTMapper. Well-known kinds resolve without a request; other group-versions are
    fetched once and re-fetched on a miss (a CRD installed after the first lookup)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._by_gv: dict[str, dict[str, Kind]] = {}
        self._lock = asyncio.Lock()
        self._builtin = {(k.api_version, k.kind): k for k in BUILTIN_KINDS}

    async def _fetch(self, api_version: str) -> dict[str, Kind]:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        try:
            data: Any = await self._transport.request("GET", path)
        except NotFoundError:
            return {}
        kinds: dict[str, Kind] = {}
        for res in (data or {}).get("resources", []):
            name = str(res.get("name", ""))
            if "/" in name:
                continue  # subresources such as pods/status
            kinds[str(res["kind"])] = Kind(
                group, version, str(res["kind"]), name, bool(res.get("namespaced")), builtin=False
            )
        return kinds

    async def resolve(self, api_version: str, kind: str) -> Kind:
        """Returns the Kind for ``apiVersion``/``kind``; raises :class:`UnknownKindError` if not served."""
        known = self._builtin.get((api_version, kind))
        if known is not None:
            return known
        async with self._lock:
            cached = self._by_gv.get(api_version)
            if cached is None or kind not in cached:
                cached = await self._fetch(api_version)
                self._by_gv[api_version] = cached
        found = cached.get(kind)
        if found is None:
            raise UnknownKindError(f"{api_version}/{kind} is not served by the apiserver")
        return found
