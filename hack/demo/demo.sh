#!/usr/bin/env bash
# The main job: the local cluster, both controllers as local processes under their own
# ServiceAccounts, and the example workspaces to Ready. Everything keeps running afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python -m e2e.demo
