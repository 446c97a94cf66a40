"""Adapts :mod:`kaito.catalog` to the :class:`~kaito.workspace.presets.PresetSource` the builders use."""

from __future__ import annotations

from kaito.catalog import Catalog, duration_seconds
from kaito.workspace.presets import InstanceTypeInfo, PresetWorkload


class CatalogPresets:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._cache: dict[str, PresetWorkload] = {}

    def preset(self, name: str) -> PresetWorkload | None:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        model = self._catalog.model(name)
        if model is None:
            return None
        tuning_gpus = 1
        if model.tuning is not None:
            tuning_gpus = max(m.gpu_count for m in model.tuning.methods.values())
        workload = PresetWorkload(
            name=model.name,
            tag=model.image_tag,
            image_name=model.image_name or "",
            gpu_count=model.inference.gpu_count,
            tuning_gpu_count=tuning_gpus,
            disk_storage=model.inference.disk_storage,
            tuning_disk_storage=model.tuning.disk_storage if model.tuning else model.inference.disk_storage,
            runtime=model.runtime,
            supports_tuning=model.supports_tuning,
            readiness_timeout_seconds=duration_seconds(self._catalog.readiness_timeout(model)),
            inference_env={"SERVED_MODEL_NAME": model.name},
            tuning_env=(
                {"DEFAULT_TARGET_MODULES": ",".join(model.tuning.target_modules)} if model.tuning else {}
            ),
        )
        self._cache[name] = workload
        return workload

    def instance_type(self, name: str) -> InstanceTypeInfo | None:
        sku = self._catalog.instance_type(name)
        if sku is None:
            return None
        return InstanceTypeInfo(
            name=sku.name, gpu_count=sku.gpu_count, compute_capability=sku.compute_capability
        )
