#!/usr/bin/env bash
# Runs every test suite; pytest's exit code 5 ("no tests collected") is not a failure of the suite.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0

run() {
  "$@"
  local rc=$?
  if [[ $rc -ne 0 && $rc -ne 5 ]]; then status=$rc; fi
}

# cluster-up/cluster-down with a real node, in a session of its own: one real node runs per machine,
# and the main session's cluster has one for its whole length.
run .venv/bin/python -m pytest -q -ra -m cluster_cli e2e/test_cluster_cli.py
run .venv/bin/python -m pytest -q -ra --durations=15 -m "not cluster_cli" tests e2e
# The preset workloads have their own venv (torch, transformers, ...) and pytest config.
run .venv-presets/bin/python -m pytest -q -ra -c presets/tests/pytest.ini presets/tests
exit $status
