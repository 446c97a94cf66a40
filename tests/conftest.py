"""Fixtures shared by the test folders of ``src/kaito`` (the cluster fixtures are in the root conftest)."""

from __future__ import annotations

import pytest

from kaito.catalog import Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """KAITO's catalog as shipped (presets/catalog)."""
    return load_catalog()
