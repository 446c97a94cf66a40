#!/usr/bin/env bash
# Debian packages the tests use as real parts: an OCI registry for tuning-output pushes and a
# Prometheus that scrapes the controllers. Installed once; a machine that has them does nothing.
set -euo pipefail
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v prometheus >/dev/null || need+=(prometheus)
[[ ${#need[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
  echo "missing ${need[*]}: install them with apt-get (root needed)" >&2
  exit 1
fi
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
echo "installing ${need[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian may start the packaged services; the tests start their own on free loopback ports instead.
for svc in "${need[@]}"; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
