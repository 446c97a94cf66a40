"""The image build (e2e/images): content keys from the Dockerfiles' inputs, and, after a build, every image
in the loopback registry under its reference, running as a non-root user."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from e2e.images import IMAGES, build_all, index_path
from e2e.images.build import REPO_ROOT, Builder, copy_sources, tree_hash
from e2e.images.registry import LoopbackRegistry, get_config, manifest_digest

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
