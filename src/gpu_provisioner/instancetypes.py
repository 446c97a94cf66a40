"""The cloud providers' instance-type lookup, answered from KAITO's catalog: the one instance-type table."""

from __future__ import annotations

from gpu_provisioner.cloudprovider.api.instancetype import InstanceShape, InstanceTypeLookup
from kaito.catalog import Catalog, load_catalog


def catalog_instance_types(catalog: Catalog | None = None) -> InstanceTypeLookup:
    """Looks names up (any case) in ``catalog``, by default the one under presets/catalog; a bad catalog
    is a start-up error naming the file and field (``CatalogError``)."""
    table = catalog or load_catalog()

    def lookup(name: str) -> InstanceShape | None:
        sku = table.instance_type(name)
        if sku is None:
            return None
        return InstanceShape(
            name=sku.name,
            gpu_count=sku.gpu_count,
            gpu_memory_gib=sku.total_gpu_memory_bytes >> 30,
            gpu_model=sku.gpu_model,
        )

    return lookup
