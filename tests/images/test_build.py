"""The image build (e2e/images): content keys from the Dockerfiles' inputs, and, after a build, every image
in the loopback registry under its reference, running as a non-root user."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from e2e.images import IMAGES, build_all, index_path
from e2e.images.build import PREFIX, REPO_ROOT, TINY_PRESET, Builder, copy_sources, tree_hash
from e2e.images.registry import LoopbackRegistry, default_port, get_config, manifest_digest
from kaito.catalog import load_catalog
from kaito.workspace.catalog_source import CatalogPresets
from kaito.workspace.config import DEFAULT_REGISTRY
from kaito.workspace.tuning import TuningInputs

TOOLS = ("buildah", "mmdebstrap", "umoci", "skopeo", "docker-registry")


def test_copy_sources_follow_the_dockerfiles() -> None:
    controllers = copy_sources((REPO_ROOT / "docker/controllers.Dockerfile").read_text(), {})
    assert {"src", "presets/catalog", "pyproject.toml", "constraints.txt"} <= set(controllers)
    base = copy_sources((REPO_ROOT / "presets/workspace/docker/Dockerfile.base").read_text(), {})
    assert "presets/requirements-torch.txt" in base
    assert "presets/workspace/inference" in base
    preset = copy_sources(
        (REPO_ROOT / "presets/workspace/docker/Dockerfile.preset").read_text(), {"WEIGHTS_DIR": "w"}
    )
    assert preset == ["w"]


def test_tree_hash_sees_content_and_mode_not_caches(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    first = tree_hash(tmp_path, ["pkg"])
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert tree_hash(tmp_path, ["pkg"]) == first
    (pkg / "a.py").write_text("x = 2\n")
    second = tree_hash(tmp_path, ["pkg"])
    assert second != first
    (pkg / "a.py").chmod(0o755)
    assert tree_hash(tmp_path, ["pkg"]) != second


def test_keys_are_stable_and_chain_to_the_base() -> None:
    one, two = Builder("127.0.0.1:1"), Builder("127.0.0.1:1")
    keys = {image.name: one.key(image) for image in IMAGES}
    assert keys == {image.name: two.key(image) for image in IMAGES}
    assert len(set(keys.values())) == len(keys)
    tiny = next(i for i in IMAGES if i.tiny_weights)
    assert keys["base"] in one.build_args(tiny)["BASE_IMAGE"]


def test_one_registry_names_every_image_the_install_runs() -> None:
    """``REGISTRY=<host> make images`` pushes what an install pointed at ``<host>/kaito`` pulls: the
    controllers (chart and kustomize defaults), the presets and the data movers the controller derives."""
    registry = "myacr.azurecr.io"
    pushed = {f"{registry}/{image.repo}:{tag}" for image in IMAGES for tag in image.extra_tags}
    preset_registry = f"{registry}/{PREFIX}"
    tiny = CatalogPresets(load_catalog()).preset(TINY_PRESET)
    assert tiny is not None and tiny.image(preset_registry) in pushed
    movers = TuningInputs(tiny, preset_registry, "cm", "/mnt/results", [], 1, "hash").movers_image()
    assert movers in pushed
    values = yaml.safe_load((REPO_ROOT / "charts/kaito/values.yaml").read_text())
    # The defaults are where `make images` pushes without REGISTRY: the loopback registry.
    assert values["registry"] == DEFAULT_REGISTRY == f"127.0.0.1:{default_port()}/{PREFIX}"
    for name, component in (
        ("workspace-controller", "workspaceController"),
        ("gpu-provisioner", "gpuProvisioner"),
    ):
        assert f"{preset_registry}/{name}:{values[component]['image']['tag']}" in pushed


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_images_are_in_the_registry_and_run_as_non_root() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"image build tools not installed: {missing}")
    # Reuses a registry that is already up (and leaves it up); else runs one for this test.
    with LoopbackRegistry() as registry:
        refs = build_all(registry.address)
        assert set(refs) == {image.name for image in IMAGES}
        index = json.loads(index_path(registry.address).read_text())
        for image in IMAGES:
            ref = refs[image.name]
            assert index[image.name] == ref
            name, _, digest = ref.partition("@")
            assert name == f"{registry.address}/{image.repo}"
            assert digest.startswith("sha256:")
            # GET /v2/<repo>/manifests/<digest>: the registry has exactly this manifest.
            assert manifest_digest(registry.address, image.repo, digest) == digest
            for tag in image.extra_tags:
                assert manifest_digest(registry.address, image.repo, tag) == digest, tag
            user = get_config(registry.address, image.repo, digest)["config"].get("User", "")
            uid = user.split(":", 1)[0]
            assert uid.isdigit() and int(uid) != 0, f"{image.name} runs as {user!r}"
