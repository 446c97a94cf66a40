"""The Helm chart in charts/kaito is generated from the kustomize manifests and renders the same
objects: committed chart is fresh, default values reproduce `kubectl kustomize manifests/default`,
and overriding a value changes exactly the field it templates."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kaito"
GEN_CHART = ROOT / "hack" / "gen_chart.py"
BUILD_HELM = ROOT / "hack" / "build-helm.sh"
NAMESPACE = "kaito-system"

Key = tuple[str, str | None, str]
Objects = dict[Key, dict[str, Any]]

# The first Helm build compiles a lot of Go; the timeout covers fixture setup too.
HELM_TIMEOUT_S = 1800


def kubectl() -> str:
    bin_dir = subprocess.run(
        ["bash", str(ROOT / "hack" / "cluster" / "build.sh"), "--print-bin-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = Path(bin_dir) / "kubectl"
    if not path.is_file():
        pytest.fail(f"kubectl missing at {path}: run hack/cluster/build.sh")
    return str(path)


def index(text: str) -> Objects:
    objects: Objects = {}
    for obj in yaml.safe_load_all(text):
        if obj is None:
            continue
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace"), meta["name"])
        assert key not in objects, f"duplicate object {key}"
        objects[key] = obj
    return objects


def kustomize_objects() -> Objects:
    out = subprocess.run(
        [kubectl(), "kustomize", str(ROOT / "manifests" / "default")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return index(out)


@pytest.fixture(scope="session")
def helm() -> str:
    """The pinned Helm binary. A failed build fails the tests that need it: they never skip."""
    proc = subprocess.run(["bash", str(BUILD_HELM)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"hack/build-helm.sh failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    path = proc.stdout.strip().splitlines()[-1]
    assert os.access(path, os.X_OK), f"hack/build-helm.sh printed {path!r}, which is not an executable"
    return path


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Keep the developer's Helm repositories, plugins and cache out of the rendering.
    home = tmp_path_factory.mktemp("helm-home")
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(home / var.lower())
    return env


def helm_template(helm: str, env: dict[str, str], *args: str) -> Objects:
    proc = subprocess.run(
        [helm, "template", "kaito", str(CHART), "--namespace", NAMESPACE, "--include-crds", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, f"helm template failed:\n{proc.stderr}"
    return index(proc.stdout)


def diff(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(a.keys() | b.keys()):
            yield from diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from diff(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {field: c.get(field) for field in ("name", "image", "args", "env")}
        for c in obj["spec"]["template"]["spec"]["containers"]
    ]


def test_committed_chart_is_fresh() -> None:
    proc = subprocess.run(
        [sys.executable, str(GEN_CHART), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}"


def load_generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_chart", GEN_CHART)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve their module through sys.modules while the module executes.
    monkeypatch.setitem(sys.modules, "gen_chart", module)
    spec.loader.exec_module(module)
    return module


def test_check_names_stale_and_unexpected_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = load_generator(monkeypatch)
    chart = tmp_path / "charts" / "kaito"
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "CHART_DIR", chart)
    monkeypatch.setenv("KUBECTL", kubectl())

    monkeypatch.setattr(sys, "argv", ["gen_chart.py"])
    assert gen.main() == 0
    monkeypatch.setattr(sys, "argv", ["gen_chart.py", "--check"])
    assert gen.main() == 0

    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("provider: aks", "provider: local"))
    (chart / "templates" / "extra.yaml").write_text("kind: ConfigMap\n")
    capsys.readouterr()
    assert gen.main() == 1
    out = capsys.readouterr().out
    assert "charts/kaito/values.yaml" in out
    assert "charts/kaito/templates/extra.yaml" in out
    assert "controllers.yaml" not in out


def test_every_generated_file_has_the_header() -> None:
    files = sorted(p for p in CHART.rglob("*") if p.is_file())
    assert files, "charts/kaito is empty: run `python hack/gen_chart.py`"
    for path in files:
        assert path.read_text().startswith("# Generated by hack/gen_chart.py"), path


@pytest.mark.slow
@pytest.mark.timeout(HELM_TIMEOUT_S)
def test_default_values_render_the_kustomize_install(helm: str, helm_env: dict[str, str]) -> None:
    rendered = helm_template(helm, helm_env)
    expected = kustomize_objects()
    assert set(rendered) == set(expected)
    deployments = [k for k in expected if k[0] == "Deployment"]
    assert {name for _, _, name in deployments} == {"kaito-workspace-controller", "gpu-provisioner"}
    for key in deployments:
        assert containers(rendered[key]) == containers(expected[key]), key
    # Beyond the required fields: with default values every object is identical.
    for key, obj in expected.items():
        assert list(diff(obj, rendered[key])) == [], key


@pytest.mark.slow
@pytest.mark.timeout(HELM_TIMEOUT_S)
def test_overrides_change_exactly_their_fields(helm: str, helm_env: dict[str, str]) -> None:
    default = helm_template(helm, helm_env)
    changed = helm_template(
        helm, helm_env, "--set", "gpuProvisioner.provider=local", "--set", "gpuProvisioner.image.tag=9.9.9"
    )
    # Only the local provider creates nodes: its ClusterRole comes with it.
    local_rbac = {
        (kind, None, "gpu-provisioner-local-nodes") for kind in ("ClusterRole", "ClusterRoleBinding")
    }
    assert set(changed) == set(default) | local_rbac and not local_rbac & set(default)
    assert changed[("ClusterRole", None, "gpu-provisioner-local-nodes")]["rules"][0]["verbs"] == ["create"]
    key = ("Deployment", NAMESPACE, "gpu-provisioner")
    provider_arg = default[key]["spec"]["template"]["spec"]["containers"][0]["args"].index("--provider=aks")
    container = "spec.template.spec.containers[0]"
    image = "127.0.0.1:5001/kaito/gpu-provisioner"
    expected = {
        (key, f"{container}.image", f"{image}:0.1.0", f"{image}:9.9.9"),
        (key, f"{container}.args[{provider_arg}]", "--provider=aks", "--provider=local"),
    }
    actual = {(k, path, a, b) for k in default for path, a, b in diff(default[k], changed[k])}
    assert actual == expected


@pytest.mark.slow
@pytest.mark.timeout(HELM_TIMEOUT_S)
def test_one_registry_value_names_every_image(helm: str, helm_env: dict[str, str]) -> None:
    # What `REGISTRY=myacr.azurecr.io make images` pushed: the controllers, and the preset and data-mover
    # images the workspace controller names under its preset registry.
    default = helm_template(helm, helm_env)
    changed = helm_template(helm, helm_env, "--set", "registry=myacr.azurecr.io/kaito")
    container = "spec.template.spec.containers[0]"
    workspace = ("Deployment", NAMESPACE, "kaito-workspace-controller")
    provisioner = ("Deployment", NAMESPACE, "gpu-provisioner")
    env = [e["name"] for e in default[workspace]["spec"]["template"]["spec"]["containers"][0]["env"]]
    registry_env = f"{container}.env[{env.index('PRESET_REGISTRY_NAME')}].value"
    expected = {
        (workspace, f"{container}.image", "myacr.azurecr.io/kaito/workspace-controller:0.1.0"),
        (workspace, registry_env, "myacr.azurecr.io/kaito"),
        (provisioner, f"{container}.image", "myacr.azurecr.io/kaito/gpu-provisioner:0.1.0"),
    }
    actual = {(k, path, b) for k in default for path, _, b in diff(default[k], changed[k])}
    assert actual == expected
    # An image kept elsewhere is named in full.
    own = helm_template(
        helm,
        helm_env,
        "--set",
        "registry=myacr.azurecr.io/kaito",
        "--set",
        "gpuProvisioner.image.repository=me/gp",
    )
    assert own[provisioner]["spec"]["template"]["spec"]["containers"][0]["image"] == "me/gp:0.1.0"


@pytest.mark.slow
@pytest.mark.timeout(HELM_TIMEOUT_S)
def test_template_syntax_in_manifests_reaches_the_output_literally(
    helm: str, helm_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = load_generator(monkeypatch)
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: braces\n  namespace: kaito-system\n"
        'data:\n  prompt: "{{ .Values.x }} and {{- trimmed -}} stay }}"\n'
    )
    (tmp_path / "templates").mkdir()
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: braces\nversion: 0.1.0\n")
    (tmp_path / "templates" / "cm.yaml").write_text(gen.escape_for_helm(manifest))
    proc = subprocess.run(
        [helm, "template", "braces", str(tmp_path)], capture_output=True, text=True, check=False, env=helm_env
    )
    assert proc.returncode == 0, proc.stderr
    assert list(yaml.safe_load_all(proc.stdout)) == [yaml.safe_load(manifest)]


@pytest.mark.slow
@pytest.mark.timeout(HELM_TIMEOUT_S)
def test_chart_lints(helm: str, helm_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [helm, "lint", str(CHART), "--namespace", NAMESPACE, "--strict"],
        capture_output=True,
        text=True,
        check=False,
        env=helm_env,
    )
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}"
