"""Load and validate the catalog files once, at start-up.

A malformed catalog must stop the process with the file and the field named: serving with a
half-read catalog would reject (or, worse, admit) workspaces for the wrong reasons.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import structlog
import yaml
from pydantic import BaseModel, ValidationError

from kaito.catalog.catalog import Catalog
from kaito.catalog.types import InstanceTypesFile, ModelsFile

log = structlog.get_logger(__name__)

CATALOG_DIR_ENV = "KAITO_CATALOG_DIR"
MODELS_FILE = "models.yaml"
INSTANCE_TYPES_FILE = "instance_types.yaml"

_cache: dict[Path, Catalog] = {}
_lock = threading.Lock()


class CatalogError(ValueError):
    """The catalog files are missing or malformed; the message names the file and field."""


def default_catalog_dir() -> Path:
    """``$KAITO_CATALOG_DIR``, else ``presets/catalog`` of the source tree."""
    from_env = os.environ.get(CATALOG_DIR_ENV)
    if from_env:
        return Path(from_env)
    # src/kaito/catalog/loader.py -> repository root
    return Path(__file__).resolve().parents[3] / "presets" / "catalog"


def load_catalog(directory: Path | str | None = None, *, reload: bool = False) -> Catalog:
    """The catalog under ``directory`` (default: :func:`default_catalog_dir`), read once and cached.

    Raises :class:`CatalogError` naming the file and field when anything is wrong.
    """
    path = Path(directory) if directory is not None else default_catalog_dir()
    key = path.resolve()
    with _lock:
        if not reload and key in _cache:
            return _cache[key]
        catalog = _read(key)
        _cache[key] = catalog
    log.info(
        "catalog loaded",
        directory=str(key),
        models=len(catalog.models),
        instance_types=len(catalog.instance_types),
    )
    return catalog


def _read(directory: Path) -> Catalog:
    models_path = directory / MODELS_FILE
    types_path = directory / INSTANCE_TYPES_FILE
    models = _parse(models_path, ModelsFile, "models")
    instance_types = _parse(types_path, InstanceTypesFile, "instanceTypes")
    assert isinstance(models, ModelsFile) and isinstance(instance_types, InstanceTypesFile)
    _check_unique(models_path, "models", [m.name for m in models.models])
    _check_unique(types_path, "instanceTypes", [t.name.lower() for t in instance_types.instance_types])
    catalog = Catalog(models.models, instance_types.instance_types, models.defaults)
    _check_references(models_path, catalog)
    return catalog


def _parse(path: Path, schema: type[BaseModel], list_key: str) -> BaseModel:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"{path}: catalog file not found (set {CATALOG_DIR_ENV}?)") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(_describe(path, raw, list_key, exc)) from exc


def _describe(path: Path, raw: Any, list_key: str, error: ValidationError) -> str:
    lines = [f"{path}: invalid catalog ({error.error_count()} problem(s))"]
    for item in error.errors():
        loc = item["loc"]
        parts: list[str] = []
        for index, part in enumerate(loc):
            if isinstance(part, int):
                # Name the entry ("models[3] (phi-4)") so the author finds it without counting.
                label = f"[{part}]"
                entry = _entry(raw, loc[: index + 1])
                if index == 1 and loc[0] == list_key and isinstance(entry, dict) and "name" in entry:
                    label += f" ({entry['name']})"
                parts.append(label)
            else:
                parts.append(("." if parts else "") + str(part))
        field = "".join(parts) or "<root>"
        lines.append(f"  {field}: {item['msg']}")
    return "\n".join(lines)


def _entry(raw: Any, loc: tuple[int | str, ...]) -> Any:
    node = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _check_unique(path: Path, list_key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise CatalogError(f"{path}: {list_key}[{index}].name: duplicate name {name!r}")
        seen.add(name)


def _check_references(path: Path, catalog: Catalog) -> None:
    for model in catalog.models:
        lists = [("inference", model.inference.recommended_instance_types)]
        if model.tuning is not None:
            lists.append(("tuning", model.tuning.recommended_instance_types))
        for section, names in lists:
            for name in names:
                if catalog.instance_type(name) is None:
                    raise CatalogError(
                        f"{path}: models ({model.name}).{section}.recommendedInstanceTypes: unknown "
                        f"instance type {name!r}; it must be listed in {INSTANCE_TYPES_FILE}"
                    )
