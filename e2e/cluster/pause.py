"""The sandbox ("pause") image of the real node, built here: no registry can be reached to pull one.

The program is a few lines of C compiled statically; the image is an OCI layout written directly (one
uncompressed layer), cached outside the checkout by the hash of its inputs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

PAUSE_IMAGE = "localhost/kaito/pause:3.10"
PAUSE_SOURCE = r"""
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = stop;
  sigaction(SIGINT, &sa, 0);
  sigaction(SIGTERM, &sa, 0);
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, 0);
  for (;;) pause();
}
"""


def _cache_dir() -> Path:
    return Path(os.environ.get("KAITO_CACHE_DIR", Path.home() / ".cache" / "kaito")) / "realnode"


def _blob(files: dict[str, bytes], data: bytes, media_type: str) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    files[f"blobs/sha256/{digest.split(':')[1]}"] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _tar(entries: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in sorted(entries.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pause_image_tar() -> Path:
    """An OCI-layout tar holding :data:`PAUSE_IMAGE`, for ``ctr images import``."""
    key = hashlib.sha256((PAUSE_SOURCE + PAUSE_IMAGE + "v1").encode()).hexdigest()[:16]
    out = _cache_dir() / f"pause-{key}.tar"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src, binary = Path(tmp) / "pause.c", Path(tmp) / "pause"
        src.write_text(PAUSE_SOURCE)
        subprocess.run(["gcc", "-Os", "-static", "-s", "-o", str(binary), str(src)], check=True)
        program = binary.read_bytes()
    layer = _tar({"pause": (program, 0o755)})
    files: dict[str, bytes] = {}
    layer_desc = _blob(files, layer, "application/vnd.oci.image.layer.v1.tar")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    }
    config_desc = _blob(
        files, json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json"
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    }
    manifest_desc = _blob(
        files, json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json"
    )
    manifest_desc["annotations"] = {
        "org.opencontainers.image.ref.name": PAUSE_IMAGE.rsplit(":", 1)[1],
        "io.containerd.image.name": PAUSE_IMAGE,
    }
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}).encode()
    files["oci-layout"] = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_bytes(_tar({name: (data, 0o644) for name, data in files.items()}))
    tmp_out.replace(out)
    return out
