#!/usr/bin/env bash
# Builds the pinned local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) and the real node's kubelet and kube-proxy from the Go module proxy into a cache outside the checkout,
# keyed by version, so a fresh clone on the same machine builds nothing.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE_ROOT="${KAITO_CACHE_DIR:-$HOME/.cache/kaito}"
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
BIN_DIR="$CACHE_ROOT/k8s/$KEY/bin"
WORK_DIR="$CACHE_ROOT/k8s/$KEY/build"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kubelet kube-proxy)

log() { printf '[cluster-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

all_present() {
  for b in "${BINARIES[@]}"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
  [[ -f "$BIN_DIR/kwok-stages.yaml" ]]
}

if [[ "${1:-}" == "--print-bin-dir" ]]; then echo "$BIN_DIR"; exit 0; fi
if all_present; then
  log "cache hit: $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { log "go toolchain not found; install Go >= 1.26"; exit 1; }
mkdir -p "$BIN_DIR" "$WORK_DIR"
start=$(date +%s)
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

build_k8s() {
  local dir="$WORK_DIR/kubernetes"
  mkdir -p "$dir"
  log "downloading k8s.io/kubernetes@$K8S_VERSION"
  local kdir
  kdir=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  local minor_patch="v0.${K8S_VERSION#v1.}"
  {
    echo "module kaito.local/k8sbuild"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # every staging module that k8s.io/kubernetes replaces with ./staging/... maps to v0.<minor>.<patch>
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$kdir/go.mod" | awk -v v="$minor_patch" '{print "replace " $1 " => " $1 " " v}'
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
  log "resolving modules (go mod tidy)"
  (cd "$dir" && go mod tidy)
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
    [[ -x "$BIN_DIR/$cmd" ]] && continue
    log "building $cmd $K8S_VERSION"
    (cd "$dir" && go build -trimpath -ldflags "-s -w $ld" -o "$BIN_DIR/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv "$BIN_DIR/$cmd.tmp" "$BIN_DIR/$cmd"
  done
}

build_etcd() {
  [[ -x "$BIN_DIR/etcd" ]] && return
  local dir="$WORK_DIR/etcd"
  mkdir -p "$dir"
  log "building etcd $ETCD_VERSION"
  cat > "$dir/go.mod" <<GOMOD
module kaito.local/etcdbuild

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
GOMOD
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
}

build_kwok() {
  if [[ ! -x "$BIN_DIR/kwok" ]]; then
    log "building kwok $KWOK_VERSION"
    GOBIN="$WORK_DIR/gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    mv "$WORK_DIR/gobin/kwok" "$BIN_DIR/kwok"
  fi
  if [[ ! -f "$BIN_DIR/kwok-stages.yaml" ]]; then
    log "rendering kwok's fast stages"
    local kdir
    kdir=$(cd "$WORK_DIR" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    "$BIN_DIR/kubectl" kustomize "$kdir/kustomize/stage/fast" > "$BIN_DIR/kwok-stages.yaml.tmp"
    mv "$BIN_DIR/kwok-stages.yaml.tmp" "$BIN_DIR/kwok-stages.yaml"
  fi
}

log "cold build: etcd, then kube-apiserver (~4-6 min on 2 cores), the other Kubernetes binaries, kwok"
build_etcd
build_k8s
build_kwok
log "built in $(( $(date +%s) - start )) s into $BIN_DIR"
echo "$BIN_DIR"
