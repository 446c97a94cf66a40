#!/usr/bin/env bash
# Creates or refreshes .venv-presets, the presets' own venv (torch, transformers, peft, trl, ...),
# and installs Debian's docker-registry for the pusher tests. Idempotent and quick when nothing
# changed: a stamp file holds the hash of the requirements and of this script.
#
#   hack/presets/setup-venv.sh            # CPU: requirements.txt + requirements-dev.txt
#   PRESETS_GPU=1 hack/presets/setup-venv.sh   # also requirements-gpu.txt (bitsandbytes, vllm)
#
# torch from PyPI pulls ~3 GB of nvidia-* wheels even for CPU use (its import needs them); pip's
# cache (~/.cache/pip) makes re-installs on the same machine fast.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LINK="$ROOT/.venv-presets"
PYTHON="${PYTHON:-python3}"
REQS=("$ROOT/presets/requirements.txt" "$ROOT/presets/requirements-dev.txt")
if [[ "${PRESETS_GPU:-0}" == "1" ]]; then
  REQS+=("$ROOT/presets/requirements-gpu.txt")
fi

ensure_registry() {
  if command -v docker-registry >/dev/null 2>&1 || command -v registry >/dev/null 2>&1; then
    return 0
  fi
  if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-venv: docker-registry is missing and cannot be installed here; registry tests will skip" >&2
    return 0
  fi
  echo "setup-venv: installing docker-registry (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q docker-registry >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q docker-registry >/dev/null
  fi
  # The package enables a systemd unit; nothing here needs a registry on the default port.
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

# requirements.txt includes requirements-torch.txt (-r): hashed too, so a torch bump refreshes the venv.
HASHED=("${REQS[@]}" "$ROOT/presets/requirements-torch.txt")
want="$(cat "${HASHED[@]}" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
ensure_registry

# The venv (7 GB, mostly torch's CUDA wheels) lives outside the checkout, keyed by the requirements'
# hash, so a fresh clone on the same machine (CI) reuses it; .venv-presets links to it.
if [[ -n "${PRESETS_VENV:-}" ]]; then
  VENV="$PRESETS_VENV"
else
  VENV="${KAITO_CACHE_DIR:-$HOME/.cache/kaito}/venv-presets/${want:0:16}"
  mkdir -p "$(dirname "$VENV")"
  if [[ -e "$LINK" && ! -L "$LINK" ]]; then rm -rf "$LINK"; fi
  ln -sfn "$VENV" "$LINK"
fi
STAMP="$VENV/.requirements.sha256"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
  && "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ("torch", "transformers", "peft", "trl", "fastapi", "oras")))' >/dev/null 2>&1; then
  echo "setup-venv: $VENV is up to date" >&2
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
args=()
for r in "${REQS[@]}"; do args+=(-r "$r"); done
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}"
echo "$want" > "$STAMP"
echo "setup-venv: $VENV ready" >&2
