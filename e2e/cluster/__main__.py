"""``python -m e2e.cluster up|down|status|build``: the local control plane for ``make cluster-up``.

``up`` starts a supervisor process in its own session that owns the components, waits until the
cluster is ready, writes ``.cluster/kubeconfig`` and returns. ``down`` signals the supervisor, which
stops every component and removes the work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from e2e.cluster.hostchanges import Ledger
from e2e.cluster.localcluster import REPO_ROOT, ClusterError, LocalCluster, ensure_binaries
from e2e.cluster.realnode import LEDGER_FILE, release_stale_lock

STATE_DIR = Path(os.environ.get("KAITO_CLUSTER_DIR", REPO_ROOT / ".cluster"))
STATE_FILE = STATE_DIR / "state.json"


def _read_state() -> dict[str, object] | None:
    try:
        return dict(json.loads(STATE_FILE.read_text()))
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve() -> int:
    """Runs in the background: start the cluster, publish its state, wait for SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        cluster = LocalCluster.start(workdir=STATE_DIR / "work")
    except ClusterError as err:
        (STATE_DIR / "error.txt").write_text(str(err))
        return 1
    try:
        bin_link = STATE_DIR / "bin"
        if bin_link.is_symlink() or bin_link.exists():
            bin_link.unlink()
        bin_link.symlink_to(cluster.bin_dir)
        shutil.copy(cluster.kubeconfig, STATE_DIR / "kubeconfig")
        state = {
            "pid": os.getpid(),
            "server": cluster.server,
            "bin_dir": str(cluster.bin_dir),
            "kubeconfig": str(STATE_DIR / "kubeconfig"),
            "components": cluster.pids(),
            "real_node": cluster.real_node is not None,
            "real_node_skipped": cluster.real_node_skipped,
        }
        STATE_FILE.write_text(json.dumps(state, indent=2))
        while not stop.wait(2.0):
            dead = [c.name for c in cluster.components.values() if not c.alive()]
            if dead:
                (STATE_DIR / "error.txt").write_text(f"component(s) exited: {', '.join(dead)}")
                break
    finally:
        cluster.stop()
        shutil.rmtree(STATE_DIR / "work", ignore_errors=True)
        with contextlib.suppress(OSError):
            STATE_FILE.unlink()
    return 0


def up(timeout: float) -> int:
    state = _read_state()
    if state and _alive(int(str(state["pid"]))):
        print(f"cluster already up at {state['server']}")
        _print_usage(state)
        return 0
    ensure_binaries()  # builds in the foreground so its progress is visible
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(STATE_DIR / "work", ignore_errors=True)
    with contextlib.suppress(OSError):
        (STATE_DIR / "error.txt").unlink()
    log = (STATE_DIR / "supervisor.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "e2e.cluster", "serve"],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _read_state()
        if state and int(str(state["pid"])) == proc.pid:
            print(f"cluster up at {state['server']}")
            _print_usage(state)
            return 0
        if proc.poll() is not None:
            err = STATE_DIR / "error.txt"
            print(err.read_text() if err.exists() else "cluster supervisor exited", file=sys.stderr)
            return 1
        time.sleep(0.3)
    proc.terminate()
    print("timed out waiting for the cluster", file=sys.stderr)
    return 1


def _print_usage(state: dict[str, object]) -> None:
    if state.get("real_node_skipped") and state.get("real_node_skipped") != "not asked for":
        print(f"  no real node ({state['real_node_skipped']}): pods are simulated by kwok only")
    print(f"  export KUBECONFIG={state['kubeconfig']}")
    print(f"  export PATH={STATE_DIR / 'bin'}:$PATH   # kubectl {state['bin_dir']}/kubectl")


def _undo_real_node() -> None:
    """A supervisor that was killed could not tear its real node down; its ledger still can."""
    if not release_stale_lock():
        return  # a live real node (another checkout's, or a test run's) holds it: not ours to undo
    ledger = Ledger.load(LEDGER_FILE)
    if ledger.entries:
        errors = ledger.undo()
        print("undid the real node's host changes" + (f"; left: {errors}" if errors else ""))


def down(timeout: float) -> int:
    state = _read_state()
    if not state:
        _undo_real_node()
        print("cluster is not running")
        return 0
    pid = int(str(state["pid"]))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    _undo_real_node()
    shutil.rmtree(STATE_DIR / "work", ignore_errors=True)
    with contextlib.suppress(OSError):
        STATE_FILE.unlink()
    print("cluster stopped")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.cluster")
    parser.add_argument("command", choices=["up", "down", "status", "serve", "build"])
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    if args.command == "serve":
        return serve()
    if args.command == "up":
        return up(args.timeout)
    if args.command == "down":
        return down(90.0)
    if args.command == "build":
        print(ensure_binaries())
        return 0
    state = _read_state()
    print(json.dumps(state, indent=2) if state else "cluster is not running")
    return 0 if state else 1


if __name__ == "__main__":
    sys.exit(main())
