#!/usr/bin/env bash
# The main job: bring up the local cluster and show it. Later steps install the controllers and
# take example workspaces to Ready.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -m e2e.cluster up
export KUBECONFIG="$PWD/.cluster/kubeconfig" PATH="$PWD/.cluster/bin:$PATH"
kubectl get node demo-gpu-0 >/dev/null 2>&1 || kubectl create -f examples/nodes/simulated-gpu-node.yaml
kubectl wait --for=condition=Ready node/demo-gpu-0 --timeout=60s >/dev/null
echo
echo "== nodes"
kubectl get nodes -o wide
echo
echo "The cluster keeps running. Explore it with:  KUBECONFIG=.cluster/kubeconfig .cluster/bin/kubectl get all -A"
echo "Stop it with:  make cluster-down"
