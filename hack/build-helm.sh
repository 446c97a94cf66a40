#!/usr/bin/env bash
# Builds the pinned Helm 3 binary from the Go module proxy into a cache outside the checkout, keyed
# by version, so the chart tests use the same Helm everywhere and a second run builds nothing.
# Prints the binary's path on stdout; logs go to stderr.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE_ROOT="${KAITO_CACHE_DIR:-$HOME/.cache/kaito}"
BIN_DIR="$CACHE_ROOT/helm/$HELM_VERSION"
HELM="$BIN_DIR/helm"

log() { printf '[helm-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ "${1:-}" == "--print-path" ]]; then echo "$HELM"; exit 0; fi
if [[ -x "$HELM" ]]; then
  log "cache hit: $HELM"
  echo "$HELM"
  exit 0
fi

command -v go >/dev/null || { log "go toolchain not found; install Go >= 1.26"; exit 1; }
mkdir -p "$BIN_DIR"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
# Build into a scratch GOBIN and move the binary in last, so an interrupted build never leaves a
# half-written file that the cache check above would take for a finished one.
tmp_bin=$(mktemp -d "$BIN_DIR/.build.XXXXXX")
trap 'rm -rf "$tmp_bin"' EXIT
start=$(date +%s)
log "building helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
# Helm's Makefile stamps the version this way; without it `helm version` reports a placeholder.
GOBIN="$tmp_bin" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
mv "$tmp_bin/helm" "$HELM"
log "built $HELM in $(( $(date +%s) - start ))s"
echo "$HELM"
