"""The loaded catalog: lookups by name, close matches for typos, and fit suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kaito.catalog.types import CatalogDefaults, InstanceType, ModelPreset


class Catalog:
    """Preset models and instance types, indexed for lookup.

    Instance types are matched case-insensitively (users write ``standard_nc6s_v3`` as often as
    ``Standard_NC6s_v3``); model names are exact, as they are in KAITO.
    """

    def __init__(
        self,
        models: Iterable[ModelPreset],
        instance_types: Iterable[InstanceType],
        defaults: CatalogDefaults | None = None,
    ) -> None:
        self.defaults = defaults or CatalogDefaults()
        self._models = {m.name: m for m in models}
        self._instance_types = {t.name.lower(): t for t in instance_types}

    @property
    def models(self) -> list[ModelPreset]:
        """All models, sorted by name."""
        return sorted(self._models.values(), key=lambda m: m.name)

    @property
    def instance_types(self) -> list[InstanceType]:
        """All instance types, sorted by name."""
        return sorted(self._instance_types.values(), key=lambda t: t.name)

    def model(self, name: str) -> ModelPreset | None:
        """The preset called ``name``, or None."""
        return self._models.get(name)

    def instance_type(self, name: str) -> InstanceType | None:
        """The instance type called ``name`` (any case), or None."""
        return self._instance_types.get(name.lower())

    def close_matches(self, name: str, limit: int = 5) -> list[str]:
        """Instance-type names that look like ``name``, best first (for "did you mean")."""
        return _close(name, [t.name for t in self._instance_types.values()], limit)

    def close_model_matches(self, name: str, limit: int = 5) -> list[str]:
        """Model names that look like ``name``, best first."""
        return _close(name, list(self._models), limit)

    def readiness_timeout(self, model: ModelPreset) -> str:
        """The model's readiness timeout, or the catalog default."""
        return model.inference.readiness_timeout or self.defaults.readiness_timeout


def _close(name: str, candidates: list[str], limit: int) -> list[str]:
    by_lower = {c.lower(): c for c in candidates}
    wanted = name.lower()
    matches = difflib.get_close_matches(wanted, list(by_lower), n=limit, cutoff=0.6)
    # Substring hits catch what edit distance misses, e.g. "a100" or "nc24ads".
    for lower in sorted(by_lower):
        if len(matches) >= limit:
            break
        if len(wanted) >= 3 and wanted in lower and lower not in matches:
            matches.append(lower)
    return [by_lower[m] for m in matches[:limit]]
