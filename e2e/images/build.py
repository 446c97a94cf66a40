"""Builds the project's images without a docker engine and pushes them to a registry.

No registry on the internet is reachable from the machines this runs on, so no ``FROM`` image can be
pulled. The base images are made here instead: Debian's essential set plus python from Debian's mirror
with ``mmdebstrap``, turned into a one-layer OCI image by ``umoci`` and copied by ``skopeo`` into a
private buildah storage (``${KAITO_CACHE_DIR:-~/.cache/kaito}/buildah``; nothing system-wide). The
project's Dockerfiles take that base as the build argument ``BASE_IMAGE`` and are built by
``buildah bud --isolation chroot`` (host network, so their ``pip install`` reaches PyPI), then pushed
with ``buildah push``.

Every image is keyed by a hash of all its inputs: the Dockerfile, every file it COPYs, the build
arguments and the key of its base. The key is the image's tag in the registry; an image whose tag is
already there is neither built nor pushed, so a second run with nothing changed only asks the
registry, and takes seconds.

    build_all()                        # the loopback registry (started for the push if not running)
    build_all("127.0.0.1:5001")        # or REGISTRY=... in the environment
    # -> {"workspace-controller": "127.0.0.1:5001/kaito/workspace-controller@sha256:...", ...}

The weights of the tiny preset (``presets/tests/tinymodel.py``, seed 0) are generated in a container
of the freshly built ``base`` image, so nothing is downloaded from a model hub and no host venv with
torch is needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.images.registry import LoopbackRegistry, cache_dir, is_loopback, manifest_digest, put_tag
from kaito.workspace.tuning import DATAMOVERS_IMAGE_NAME, DATAMOVERS_TAG

REPO_ROOT = Path(__file__).resolve().parents[2]
# Bump to rebuild every image (a change of how they are made that no input file shows).
RECIPE = "1"
DEBIAN_MIRROR = os.environ.get("KAITO_DEBIAN_MIRROR") or "http://deb.debian.org/debian"
# Documentation and translations are of no use in these images.
DPKG_OPTS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
)
# pip in a venv trusts its own certifi copy, not the system's CA store: the local bases tell it to use
# the system's, so that a build can run where egress goes through a TLS-inspecting proxy whose CA is
# only in the host's store (mounted over the image's for the build; see Builder.trust_mounts).
PIP_CONF = """\
# Local Debian base of e2e/images: pip trusts the system CA store, as apt and python's ssl module do.
[global]
cert = /etc/ssl/certs/ca-certificates.crt
"""
PYTHON_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
# Every image goes to <REGISTRY>/kaito/<name>, besides its content key under the tag the installs name, so
# that one setting, the preset registry <REGISTRY>/kaito, resolves them all: the controllers'
# (manifests/default, the chart), the presets' <registry>/kaito-<preset>:<imageTag> and the data movers'
# <registry>/kaito-datamovers:<tag> that the workspace controller derives.
PREFIX = "kaito"
CONTROLLERS_TAG = "0.1.0"
# The tiny preset, as the catalog has it.
TINY_PRESET = "tiny-llama"
TINY_IMAGE_TAG = "0.0.1"
TINY_MODEL = {"seed": 0, "hidden_size": 64, "heads": 4, "kv_heads": 2}


class BuildError(RuntimeError):
    """A step of the image build failed; the message names the step and ends with its output's tail."""


def log(message: str) -> None:
    print(f"[images {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _sha(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class DebianBase:
    """A base image made with mmdebstrap: Debian's essential set plus ``packages``."""

    name: str
    suite: str
    packages: tuple[str, ...]

    @property
    def key(self) -> str:
        return _sha(
            {
                "recipe": RECIPE,
                "suite": self.suite,
                "packages": sorted(self.packages),
                "mirror": DEBIAN_MIRROR,
                "dpkg": DPKG_OPTS,
                "pip.conf": PIP_CONF,
            }
        )[:24]

    @property
    def local_ref(self) -> str:
        return f"localhost/kaito/debian-base:{self.name}-{self.key}"


# busybox-static: the data movers' pusher lays it under the adapter images it pushes.
BOOKWORM = DebianBase("bookworm", "bookworm", (*PYTHON_PACKAGES, "busybox-static"))
# Debian's torch is CPU only (2.6.0 in trixie, python 3.13): ~1 GB against ~3 GB of CUDA wheels from PyPI.
TRIXIE_TORCH = DebianBase("trixie-torch", "trixie", (*PYTHON_PACKAGES, "python3-torch"))


@dataclass(frozen=True)
class Image:
    """One image to build: a Dockerfile of the repository on a base (a DebianBase or another Image's name)."""

    name: str
    repo: str
    dockerfile: str
    base: DebianBase | str
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    extra_tags: tuple[str, ...] = ()
    # Weights of the tiny model as the build context (Dockerfile.preset), instead of the repository.
    tiny_weights: bool = False


IMAGES: tuple[Image, ...] = (
    Image(
        "workspace-controller",
        f"{PREFIX}/workspace-controller",
        "docker/controllers.Dockerfile",
        BOOKWORM,
        target="workspace-controller",
        extra_tags=(CONTROLLERS_TAG,),
    ),
    Image(
        "gpu-provisioner",
        f"{PREFIX}/gpu-provisioner",
        "docker/controllers.Dockerfile",
        BOOKWORM,
        target="gpu-provisioner",
        extra_tags=(CONTROLLERS_TAG,),
    ),
    Image(
        "datamovers",
        f"{PREFIX}/{DATAMOVERS_IMAGE_NAME}",
        "presets/workspace/docker/Dockerfile.datamovers",
        BOOKWORM,
        extra_tags=(DATAMOVERS_TAG,),
    ),
    Image(
        "base",
        f"{PREFIX}/base",
        "presets/workspace/docker/Dockerfile.base",
        TRIXIE_TORCH,
        build_args={"GPU_EXTRAS": "0"},
    ),
    Image(
        f"kaito-{TINY_PRESET}",
        f"{PREFIX}/kaito-{TINY_PRESET}",
        "presets/workspace/docker/Dockerfile.preset",
        "base",
        build_args={"MODEL_NAME": TINY_PRESET, "WEIGHTS_DIR": "."},
        extra_tags=(TINY_IMAGE_TAG,),
        tiny_weights=True,
    ),
)


# ---------------------------------------------------------------------------------------------------
# Content keys


def _instructions(dockerfile: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, rest) of a Dockerfile, continuation lines joined and comments dropped."""
    current = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        yield word.upper(), rest.strip()
        current = ""
    if current.strip():
        word, _, rest = current.strip().partition(" ")
        yield word.upper(), rest.strip()


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _expand(text: str, args: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        value = args.get(name, "")
        return value if value or m.group(2) is None else m.group(2)

    return _VAR.sub(sub, text)


def copy_sources(dockerfile: str, build_args: Mapping[str, str]) -> list[str]:
    """The build-context paths that the Dockerfile's COPY/ADD instructions read (not ``--from`` ones)."""
    args: dict[str, str] = {}
    sources: list[str] = []
    for word, rest in _instructions(dockerfile):
        if word == "ARG":
            name, has_default, default = rest.partition("=")
            args[name.strip()] = build_args.get(name.strip(), default.strip() if has_default else "")
        elif word in ("COPY", "ADD"):
            tokens = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            flags = [t for t in tokens if t.startswith("--")]
            if any(f.startswith("--from=") for f in flags):
                continue
            paths = [t for t in tokens if not t.startswith("--")]
            sources.extend(_expand(p, args) for p in paths[:-1])
    return sources


def _ignore_patterns(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    patterns = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise BuildError(f"{path}: exceptions (!) are not supported by the content key")
        patterns.append(line.rstrip("/"))
    return patterns


def _ignored(rel: str, patterns: Sequence[str]) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
        elif fnmatch.fnmatchcase(rel, pattern) or any(
            fnmatch.fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts))
        ):
            return True
    return False


def tree_hash(context: Path, sources: Sequence[str]) -> str:
    """Hash of the files under ``sources`` (relative to ``context``): paths, executable bits, contents and
    symlink targets, with the context's .dockerignore applied the way the builder applies it."""
    patterns = _ignore_patterns(context)
    digest = hashlib.sha256()
    digest.update(json.dumps(patterns).encode())

    def add(path: Path) -> None:
        rel = path.relative_to(context).as_posix()
        if rel != "." and _ignored(rel, patterns):
            return
        if path.is_symlink():
            digest.update(f"L {rel} {os.readlink(path)}\n".encode())
        elif path.is_dir():
            digest.update(f"D {rel}\n".encode())
            for child in sorted(path.iterdir()):
                add(child)
        elif path.is_file():
            mode = "x" if os.access(path, os.X_OK) else "-"
            digest.update(f"F {rel} {mode} {hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())

    for source in sources:
        matches = sorted(context.glob(source)) if any(c in source for c in "*?[") else [context / source]
        if not matches or not all(m.exists() or m.is_symlink() for m in matches):
            raise BuildError(f"COPY source {source!r} not found in {context}")
        for match in matches:
            add(match)
    return digest.hexdigest()


def tiny_weights_key(base_key: str) -> str:
    source = (REPO_ROOT / "presets" / "tests" / "tinymodel.py").read_bytes()
    return _sha(
        {
            "recipe": RECIPE,
            "tinymodel": hashlib.sha256(source).hexdigest(),
            "params": TINY_MODEL,
            "base": base_key,
        }
    )[:24]


# ---------------------------------------------------------------------------------------------------
# Tools


@dataclass
class Paths:
    root: Path

    @property
    def buildah(self) -> Path:
        return self.root / "buildah"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def logs(self) -> Path:
        return self.images / "logs"

    @property
    def tmp(self) -> Path:
        return self.buildah / "tmp"

    @property
    def storage(self) -> Path:
        return self.buildah / "root"

    @property
    def runroot(self) -> Path:
        return self.buildah / "runroot"

    @property
    def policy(self) -> Path:
        return self.buildah / "policy.json"

    @property
    def registries_conf(self) -> Path:
        return self.buildah / "registries.conf"

    @property
    def storage_conf(self) -> Path:
        return self.buildah / "storage.conf"


class Builder:
    def __init__(self, registry: str, root: Path | None = None) -> None:
        self.registry = registry
        self.paths = Paths(root if root is not None else cache_dir())
        self.driver = os.environ.get("KAITO_BUILDAH_DRIVER") or "overlay"
        self.tls_verify = "false" if is_loopback(registry) else "true"
        self.verbose = os.environ.get("KAITO_IMAGES_VERBOSE", "") not in ("", "0")
        self._keys: dict[str, str] = {}
        self._local_done: set[str] = set()

    # -- environment ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        for d in (self.paths.storage, self.paths.runroot, self.paths.tmp, self.paths.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.paths.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}) + "\n")
        # Short names resolve nowhere: every FROM is a full local name, and --pull=never anyway.
        insecure = "\ninsecure = true" if self.tls_verify == "false" else ""
        self.paths.registries_conf.write_text(
            f'unqualified-search-registries = []\n\n[[registry]]\nlocation = "{self.registry}"{insecure}\n'
        )
        self.paths.storage_conf.write_text(
            f'[storage]\ndriver = "{self.driver}"\nrunroot = "{self.paths.runroot}"\n'
            f'graphroot = "{self.paths.storage}"\n'
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TMPDIR=str(self.paths.tmp),
            CONTAINERS_REGISTRIES_CONF=str(self.paths.registries_conf),
            CONTAINERS_STORAGE_CONF=str(self.paths.storage_conf),
            BUILDAH_ISOLATION="chroot",
        )
        return env

    def buildah(self, *args: str) -> list[str]:
        return [
            "buildah",
            "--root",
            str(self.paths.storage),
            "--runroot",
            str(self.paths.runroot),
            "--storage-driver",
            self.driver,
            *args,
        ]

    def run(self, step: str, argv: Sequence[str], cwd: Path | None = None) -> str:
        """Runs one tool; its output goes to a log file (and to stderr with KAITO_IMAGES_VERBOSE=1)."""
        log_path = self.paths.logs / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', step)}.log"
        with log_path.open("w") as out:
            out.write(f"$ {shlex.join(argv)}\n")
            out.flush()
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if self.verbose:
                    sys.stderr.write(line)
            code = proc.wait()
        if code != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
            raise BuildError(f"{step} failed (exit {code}; full log {log_path}):\n{tail}")
        return log_path.read_text(errors="replace")

    def trust_mounts(self) -> list[tuple[Path, str]]:
        """This machine's CA bundle, mounted over the image's for RUN steps only (nothing of it lands in
        an image): where egress goes through a TLS-inspecting proxy, its CA is only in the host's store.
        The local bases' /etc/pip.conf points pip at that file."""
        bundle = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
        return [(bundle, "/etc/ssl/certs/ca-certificates.crt")] if bundle.is_file() else []

    def local_exists(self, ref: str) -> bool:
        return (
            subprocess.run(
                self.buildah("inspect", "--type", "image", ref),
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            ).returncode
            == 0
        )

    # -- keys ----------------------------------------------------------------------------------------

    def image(self, name: str) -> Image:
        for image in IMAGES:
            if image.name == name:
                return image
        raise KeyError(name)

    def base_ref(self, image: Image) -> str:
        if isinstance(image.base, DebianBase):
            return image.base.local_ref
        return self.local_ref(self.image(image.base))

    def build_args(self, image: Image) -> dict[str, str]:
        return {"BASE_IMAGE": self.base_ref(image), **image.build_args}

    def key(self, image: Image) -> str:
        if image.name in self._keys:
            return self._keys[image.name]
        dockerfile = (REPO_ROOT / image.dockerfile).read_text()
        args = self.build_args(image)
        if image.tiny_weights:
            assert isinstance(image.base, str)
            context = {"tiny-weights": tiny_weights_key(self.key(self.image(image.base)))}
        else:
            context = {"tree": tree_hash(REPO_ROOT, copy_sources(dockerfile, args))}
        key = _sha(
            {
                "recipe": RECIPE,
                "dockerfile": dockerfile,
                "target": image.target,
                "args": args,  # BASE_IMAGE names the base's key
                **context,
            }
        )[:24]
        self._keys[image.name] = key
        return key

    def local_ref(self, image: Image) -> str:
        return f"localhost/kaito/{image.name}:{self.key(image)}"

    def remote(self, image: Image, tag: str) -> str:
        return f"{self.registry}/{image.repo}:{tag}"

    # -- steps ---------------------------------------------------------------------------------------

    def ensure_debian(self, base: DebianBase) -> None:
        if base.local_ref in self._local_done or self.local_exists(base.local_ref):
            self._local_done.add(base.local_ref)
            return
        # The rootfs is kept until it is in the storage, so a failed later step does not debootstrap again.
        rootfs = self.paths.images / "rootfs" / f"{base.name}-{base.key}.tar"
        if not rootfs.exists():
            rootfs.parent.mkdir(parents=True, exist_ok=True)
            partial = rootfs.with_suffix(".partial.tar")
            started = time.monotonic()
            argv = [
                "mmdebstrap",
                "--variant=essential",
                f"--include={','.join(base.packages)}",
                "--skip=output/dev",
                f'--customize-hook=printf %s {shlex.quote(PIP_CONF)} > "$1/etc/pip.conf"',
                *(f"--dpkgopt={opt}" for opt in DPKG_OPTS),
                base.suite,
                str(partial),
                DEBIAN_MIRROR,
            ]
            self.run(f"debian-{base.name}-mmdebstrap", argv)
            partial.replace(rootfs)
            took = time.monotonic() - started
            size = rootfs.stat().st_size / 2**20
            log(f"debian {base.name}: mmdebstrap, {size:.0f} MiB rootfs ({took:.1f} s)")
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f"debian-{base.name}-", dir=self.paths.tmp))
        try:
            layout = work / "oci"
            image = f"{layout}:{base.name}"  # umoci's --image is LAYOUT:TAG
            self.run(f"debian-{base.name}-umoci-init", ["umoci", "init", "--layout", str(layout)])
            self.run(f"debian-{base.name}-umoci-new", ["umoci", "new", "--image", image])
            created_by = f"mmdebstrap --variant=essential --include={','.join(base.packages)} {base.suite}"
            self.run(
                f"debian-{base.name}-umoci-layer",
                [
                    "umoci",
                    "raw",
                    "add-layer",
                    "--image",
                    image,
                    "--history.created_by",
                    created_by,
                    str(rootfs),
                ],
            )
            self.run(
                f"debian-{base.name}-umoci-config",
                [
                    "umoci",
                    "config",
                    "--image",
                    image,
                    "--config.env",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--config.cmd",
                    "/bin/bash",
                    "--architecture",
                    _oci_arch(),
                    "--os",
                    "linux",
                ],
            )
            storage = f"containers-storage:[{self.driver}@{self.paths.storage}+{self.paths.runroot}]"
            self.run(
                f"debian-{base.name}-skopeo",
                [
                    "skopeo",
                    "copy",
                    "--quiet",
                    "--policy",
                    str(self.paths.policy),
                    f"oci:{image}",
                    storage + base.local_ref,
                ],
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rootfs.unlink()
        log(f"debian {base.name}: OCI image {base.local_ref} ({time.monotonic() - started:.1f} s)")
        self.prune_old(base.local_ref)
        self._local_done.add(base.local_ref)

    def ensure_local(self, image: Image) -> None:
        """The image in the local buildah storage: pulled from the registry if it is there, else built."""
        ref = self.local_ref(image)
        if ref in self._local_done or self.local_exists(ref):
            self._local_done.add(ref)
            return
        key = self.key(image)
        if manifest_digest(self.registry, image.repo, key) is not None:
            started = time.monotonic()
            self.run(
                f"{image.name}-pull",
                self.buildah(
                    "pull",
                    "--quiet",
                    f"--tls-verify={self.tls_verify}",
                    "--signature-policy",
                    str(self.paths.policy),
                    f"docker://{self.remote(image, key)}",
                ),
            )
            self.run(f"{image.name}-tag", self.buildah("tag", self.remote(image, key), ref))
            # Drop the registry's name: the local name is the one builds use (and prune_old knows).
            self.run(f"{image.name}-untag", self.buildah("rmi", self.remote(image, key)))
            log(f"{image.name}: pulled from {self.registry} ({time.monotonic() - started:.1f} s)")
            self._local_done.add(ref)
            self.prune_old(ref)
            return
        self.build(image)

    def build(self, image: Image) -> None:
        if isinstance(image.base, DebianBase):
            self.ensure_debian(image.base)
        else:
            self.ensure_local(self.image(image.base))
        context = REPO_ROOT
        if image.tiny_weights:
            context = self.ensure_tiny_weights(image)
        started = time.monotonic()
        argv = self.buildah(
            "bud",
            "--isolation",
            "chroot",
            "--pull=never",
            "--layers",
            "--force-rm",  # no working container left behind by a failed step
            "--signature-policy",
            str(self.paths.policy),
            "-f",
            str(REPO_ROOT / image.dockerfile),
        )
        if image.target:
            argv += ["--target", image.target]
        for host, inside in self.trust_mounts():
            argv += ["-v", f"{host}:{inside}:ro"]
        for name, value in sorted(self.build_args(image).items()):
            argv += ["--build-arg", f"{name}={value}"]
        argv += ["-t", self.local_ref(image), str(context)]
        self.run(f"{image.name}-build", argv)
        log(f"{image.name}: built {self.local_ref(image)} ({time.monotonic() - started:.1f} s)")
        self._local_done.add(self.local_ref(image))
        self.prune_old(self.local_ref(image))

    def prune_old(self, current: str) -> None:
        """Untags the local builds of ``current``'s image for earlier keys (``current`` is NAME:TAG; a tag's
        prefix up to the key names the image, e.g. ``debian-base:bookworm-``). Layers that a newer build
        still shares stay; ``--layers`` intermediates stay as the build cache."""
        prefix = current[: current.rindex(":") + 1]
        if "debian-base:" in current:
            prefix = current[: current.rindex("-") + 1]
        out = subprocess.run(
            self.buildah("images", "--json"), env=self.env(), capture_output=True, text=True, check=False
        )
        if out.returncode != 0 or not out.stdout.strip():
            return
        for entry in json.loads(out.stdout):
            for name in entry.get("names") or []:
                if name.startswith(prefix) and name != current:
                    subprocess.run(
                        self.buildah("rmi", name),
                        env=self.env(),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        check=False,
                    )

    def ensure_tiny_weights(self, image: Image) -> Path:
        """The tiny model's files (a directory, the build context of Dockerfile.preset), generated once per
        key in a container of the base image: torch, transformers and tokenizers are all there."""
        assert isinstance(image.base, str)
        base = self.image(image.base)
        key = tiny_weights_key(self.key(base))
        target = self.paths.images / "weights" / key
        model = target / "model"
        if (target / "done").exists():
            return model
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        model.mkdir()
        started = time.monotonic()
        container = f"kaito-tiny-weights-{os.getpid()}"
        params = ", ".join(f"{k}={v}" for k, v in TINY_MODEL.items())
        script = (
            "import sys; from pathlib import Path; sys.path.insert(0, '/gen'); "
            f"from tinymodel import build_tiny_model; build_tiny_model(Path('/out'), {params})"
        )
        self.run(
            f"{image.name}-weights-from",
            self.buildah("from", "--pull=never", "--name", container, self.local_ref(base)),
        )
        try:
            self.run(
                f"{image.name}-weights",
                self.buildah(
                    "run",
                    "--isolation",
                    "chroot",
                    "--user",
                    "0:0",
                    "-v",
                    f"{REPO_ROOT / 'presets' / 'tests' / 'tinymodel.py'}:/gen/tinymodel.py:ro",
                    "-v",
                    f"{model}:/out",
                    container,
                    "--",
                    "python",
                    "-c",
                    script,
                ),
            )
        finally:
            subprocess.run(
                self.buildah("rm", container),
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        for path in model.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (target / "done").write_text(key + "\n")
        log(f"{image.name}: tiny model weights generated ({time.monotonic() - started:.1f} s)")
        return model

    def push(self, image: Image) -> str:
        started = time.monotonic()
        key = self.key(image)
        digest_file = self.paths.tmp / f"digest-{image.name}-{os.getpid()}"
        try:
            self.run(
                f"{image.name}-push",
                self.buildah(
                    "push",
                    "--quiet",
                    f"--tls-verify={self.tls_verify}",
                    "--signature-policy",
                    str(self.paths.policy),
                    "--digestfile",
                    str(digest_file),
                    self.local_ref(image),
                    f"docker://{self.remote(image, key)}",
                ),
            )
            digest = digest_file.read_text().strip()
        finally:
            digest_file.unlink(missing_ok=True)
        log(f"{image.name}: pushed {self.remote(image, key)} ({time.monotonic() - started:.1f} s)")
        return digest

    def ensure(self, image: Image) -> str:
        """``image`` in the registry under its key's tag (and extra tags); returns the pushed reference."""
        started = time.monotonic()
        key = self.key(image)
        digest = manifest_digest(self.registry, image.repo, key)
        if digest is None:
            log(f"{image.name}: {self.remote(image, key)} not in the registry, building")
            self.ensure_local(image)
            digest = self.push(image)
        else:
            log(f"{image.name}: {self.remote(image, key)} up to date ({time.monotonic() - started:.2f} s)")
        for tag in image.extra_tags:
            if manifest_digest(self.registry, image.repo, tag) != digest:
                put_tag(self.registry, image.repo, key, tag)
                log(f"{image.name}: tagged {self.remote(image, tag)}")
        return f"{self.registry}/{image.repo}@{digest}"

    def build_all(self, names: Sequence[str] | None = None) -> dict[str, str]:
        self.prepare()
        wanted = [i for i in IMAGES if names is None or i.name in names]
        unknown = set(names or ()) - {i.name for i in IMAGES}
        if unknown:
            raise BuildError(f"unknown images: {sorted(unknown)} (known: {[i.name for i in IMAGES]})")
        return {image.name: self.ensure(image) for image in wanted}


def _oci_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One build at a time per cache: two runs would build the same images into the same storage."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another image build (lock {path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def index_path(registry: str, root: Path | None = None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", registry)
    return (root if root is not None else cache_dir()) / "images" / f"index-{safe}.json"


def build_all(registry: str | None = None, names: Sequence[str] | None = None) -> dict[str, str]:
    """Builds what is missing and pushes it; returns logical name -> ``REGISTRY/REPO@sha256:DIGEST``.

    ``registry``: the argument, else env ``REGISTRY``, else the loopback registry
    (:class:`~e2e.images.registry.LoopbackRegistry`, started for the push and stopped after unless it was
    already running). ``names``: a subset of the images (default all). The result is also written to
    :func:`index_path` (merged with what an earlier run of a subset wrote).
    """
    started = time.monotonic()
    loopback: LoopbackRegistry | None = None
    registry = registry or os.environ.get("REGISTRY") or None
    if registry is not None and "/" in registry:
        host = registry.split("/", 1)[0]
        raise BuildError(
            f"registry {registry!r}: give its host[:port] only; the images go to {host}/{PREFIX}/<name>, "
            f"and the install's registry setting is then {host}/{PREFIX}"
        )
    if registry is None:
        loopback = LoopbackRegistry().start()
        registry = loopback.address
        log(f"registry {registry} ({'started' if loopback.owned else 'already running'})")
    try:
        root = cache_dir()
        with _lock(root / "images" / "build.lock"):
            refs = Builder(registry, root).build_all(names)
            index = index_path(registry, root)
            merged: dict[str, str] = {}
            with contextlib.suppress(OSError, ValueError):
                merged = dict(json.loads(index.read_text()))
            merged.update(refs)
            tmp = index.with_suffix(".tmp")
            tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
            tmp.replace(index)
    finally:
        if loopback is not None:
            loopback.stop()
    log(f"{len(refs)} images ready in {registry} ({time.monotonic() - started:.1f} s); index {index}")
    return refs
