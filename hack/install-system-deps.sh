#!/usr/bin/env bash
# Debian packages the tests and the demo use as real parts:
# - the real node: containerd, runc, the CNI plugins, iptables, conntrack, socat (the in-cluster
#   apiserver relay) and gcc with a static libc (the pause program);
# - images without docker: mmdebstrap (base images from Debian's mirror), umoci, skopeo, buildah;
# - an OCI registry (docker-registry) and a Prometheus that scrapes the controllers.
# Installed once; a machine that has them all does nothing. Without root it says what is missing and
# leaves it there: `make demo` then runs with simulated pods only.
set -euo pipefail
declare -A probe=(
  [containerd]="command -v containerd"
  [runc]="command -v runc"
  [containernetworking-plugins]="test -x /usr/lib/cni/bridge"
  [iptables]="command -v iptables"
  [conntrack]="command -v conntrack"
  [socat]="command -v socat"
  [gcc]="command -v gcc"
  [libc6-dev]="test -f /usr/lib/x86_64-linux-gnu/libc.a -o -f /usr/lib/aarch64-linux-gnu/libc.a"
  [mmdebstrap]="command -v mmdebstrap"
  [umoci]="command -v umoci"
  [skopeo]="command -v skopeo"
  [buildah]="command -v buildah"
  [docker-registry]="command -v docker-registry"
  [prometheus]="command -v prometheus"
)
need=()
for pkg in "${!probe[@]}"; do
  eval "${probe[$pkg]}" >/dev/null 2>&1 || need+=("$pkg")
done
[[ ${#need[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
  echo "system-deps: missing ${need[*]} (Debian packages, root needed): no real node or image builds here" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "system-deps: missing ${need[*]} and no apt-get: no real node or image builds here" >&2
  exit 0
fi
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
echo "system-deps: installing ${need[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian may start the packaged services; the cluster and tests start their own, on private sockets
# and loopback ports.
for svc in containerd docker-registry prometheus; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
