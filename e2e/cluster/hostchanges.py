"""Every change a real node makes to the host, written down before it is made, so that it can be undone.

The ledger is a JSON file that grows one entry per change; ``undo`` walks it backwards. Because each
entry is on disk before the change happens, a supervisor that was killed leaves a ledger that the next
``cluster-down`` or ``cluster-up`` replays. :func:`leftovers` looks at the host itself, not the ledger,
and is what the tests assert on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IPTABLES_COMMENT = "kaito-realnode"
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Sysctls that the kubelet (setupKernelTunables), the bridge plugin (ip_forward) and kube-proxy may write.
SAVED_SYSCTLS = (
    "net.ipv4.ip_forward",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.bridge.bridge-nf-call-iptables",
    "net.ipv4.conf.all.route_localnet",
)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def read_sysctl(key: str) -> str | None:
    try:
        return sysctl_path(key).read_text().strip()
    except OSError:
        return None


def mounts_under(roots: Iterable[Path]) -> list[str]:
    """Mount points below any of ``roots``, deepest first (the order to unmount them in)."""
    prefixes = [str(r).rstrip("/") + "/" for r in roots]
    found: list[str] = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if any(point.startswith(p) or point + "/" == p for p in prefixes):
                found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_all(roots: Iterable[Path]) -> None:
    roots = list(roots)
    for _ in range(5):
        points = mounts_under(roots)
        if not points:
            return
        for point in points:
            if run("umount", point, check=False).returncode != 0:
                run("umount", "-l", point, check=False)


def processes_matching(needles: Sequence[str]) -> list[int]:
    """PIDs whose command line contains any of ``needles`` (our socket and directory paths)."""
    pids = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            pids.append(int(entry.name))
    return pids


def kill_and_wait(pids: Iterable[int], timeout: float = 10.0) -> None:
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            # A zombie child of ours needs reaping; anyone else's goes when its parent reaps it.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            status = _proc_state(pid)
            if status in ("Z", None):
                break
            time.sleep(0.05)


def _proc_state(pid: int) -> str | None:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) or None
    except (OSError, IndexError):
        return None


def cgroup_dirs(name: str) -> list[Path]:
    """``<hierarchy>/<name>`` in every cgroup v1 hierarchy (or the v2 root) where it exists."""
    found: list[Path] = []
    if not CGROUP_ROOT.is_dir():
        return found
    candidates = [CGROUP_ROOT / name] + [h / name for h in CGROUP_ROOT.iterdir() if h.is_dir()]
    for path in candidates:
        if path.is_dir():
            found.append(path)
    return found


def remove_cgroup_tree(top: Path) -> None:
    """Kill what is still inside, then rmdir deepest first (cgroupfs refuses rmtree)."""
    dirs = sorted((p for p in [top, *top.rglob("*")] if p.is_dir()), key=lambda p: -len(p.parts))
    for d in dirs:
        with contextlib.suppress(OSError):
            kill_and_wait(int(x) for x in (d / "cgroup.procs").read_text().split())
    for d in dirs:
        for _ in range(20):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


IPTABLES_TABLES = ("filter", "nat", "mangle", "raw")


def _chains(table: str, prefix: str) -> list[str]:
    out = run("iptables", "-t", table, "-S", check=False).stdout.splitlines()
    return [line.split()[1] for line in out if line.startswith("-N ") and line.split()[1].startswith(prefix)]


def _remove_chains(table: str, chains: Sequence[str]) -> None:
    if not chains:
        return
    doomed = set(chains)
    for line in run("iptables", "-t", table, "-S").stdout.splitlines():
        words = shlex.split(line)
        if words[:1] == ["-A"] and "-j" in words and words[words.index("-j") + 1] in doomed:
            run("iptables", "-t", table, "-D", *words[1:], check=False)
    for chain in chains:
        run("iptables", "-t", table, "-F", chain, check=False)
    for chain in chains:
        run("iptables", "-t", table, "-X", chain, check=False)


def _iptables_rule_exists(table: str, chain: str, rule: Sequence[str]) -> bool:
    return run("iptables", "-t", table, "-C", chain, *rule, check=False).returncode == 0


@dataclass
class Ledger:
    """Host changes in the order they were made; persisted after every entry."""

    path: Path
    entries: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        try:
            entries = list(json.loads(path.read_text()))
        except (OSError, ValueError):
            entries = []
        return cls(path=path, entries=entries)

    def _record(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries, indent=1))
        tmp.replace(self.path)

    # ------------------------------------------------------------------ changes
    def save_sysctls(self, keys: Iterable[str] = SAVED_SYSCTLS) -> None:
        for key in keys:
            value = read_sysctl(key)
            if value is not None:
                self._record({"kind": "sysctl", "key": key, "value": value})

    def set_sysctl(self, key: str, value: str) -> None:
        old = read_sysctl(key)
        if old is None:
            raise RuntimeError(f"sysctl {key} does not exist here")
        self._record({"kind": "sysctl", "key": key, "value": old})
        sysctl_path(key).write_text(value)

    def add_link(self, name: str, kind: str = "bridge") -> None:
        if run("ip", "link", "show", name, check=False).returncode == 0:
            raise RuntimeError(f"network interface {name} already exists: another real node runs here")
        self._record({"kind": "link", "name": name})
        run("ip", "link", "add", name, "type", kind)

    def add_route(self, *spec: str) -> None:
        self._record({"kind": "route", "spec": list(spec)})
        run("ip", "route", "replace", *spec)

    def add_iptables(self, table: str, chain: str, *rule: str) -> None:
        full = [*rule, "-m", "comment", "--comment", IPTABLES_COMMENT]
        self._record({"kind": "iptables", "table": table, "chain": chain, "rule": full})
        run("iptables", "-t", table, "-I", chain, "1", *full)

    def watch_path(self, path: Path) -> None:
        """A path a component creates by itself (the kubelet's device-plugin dir): removed on undo only
        if it was not there before."""
        top = path
        while not top.parent.exists():
            top = top.parent
        if not path.exists():
            self._record({"kind": "path", "path": str(top if not top.exists() else path)})

    def watch_cgroup(self, name: str) -> None:
        if not cgroup_dirs(name):
            self._record({"kind": "cgroup", "name": name})

    def watch_processes(self, needles: Sequence[str]) -> None:
        self._record({"kind": "processes", "needles": list(needles)})

    def watch_mounts(self, roots: Sequence[Path]) -> None:
        self._record({"kind": "mounts", "roots": [str(r) for r in roots]})

    def watch_iptables_chains(self, prefix: str = "KUBE-") -> None:
        """Chains named ``prefix*`` that appear later (the kubelet's KUBE-FIREWALL, kube-proxy's if its
        ``--cleanup`` missed any) are removed on undo, with the jumps to them; ones already here are kept."""
        existing = {t: _chains(t, prefix) for t in IPTABLES_TABLES}
        self._record({"kind": "iptables-chains", "prefix": prefix, "existing": existing})

    def command(self, argv: Sequence[str]) -> None:
        """A command to run on undo (kube-proxy's own ``--cleanup``)."""
        self._record({"kind": "command", "argv": list(argv)})

    # ------------------------------------------------------------------ undo
    def undo(self) -> list[str]:
        """Undoes every entry, newest first; returns what could not be undone (empty when all went)."""
        errors: list[str] = []
        for entry in reversed(self.entries):
            try:
                self._undo_one(entry)
            except Exception as err:
                errors.append(f"{entry}: {err}")
        if not errors:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.entries = []
        return errors

    def _undo_one(self, entry: dict[str, Any]) -> None:
        kind = entry["kind"]
        if kind == "sysctl":
            if read_sysctl(entry["key"]) != entry["value"]:
                sysctl_path(entry["key"]).write_text(entry["value"])
        elif kind == "link":
            if run("ip", "link", "show", entry["name"], check=False).returncode == 0:
                run("ip", "link", "del", entry["name"])
        elif kind == "route":
            run("ip", "route", "del", *entry["spec"], check=False)
        elif kind == "iptables":
            while _iptables_rule_exists(entry["table"], entry["chain"], entry["rule"]):
                run("iptables", "-t", entry["table"], "-D", entry["chain"], *entry["rule"])
        elif kind == "path":
            path = Path(entry["path"])
            unmount_all([path])
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        elif kind == "cgroup":
            for top in cgroup_dirs(entry["name"]):
                remove_cgroup_tree(top)
        elif kind == "processes":
            kill_and_wait(processes_matching(entry["needles"]))
        elif kind == "mounts":
            unmount_all(Path(r) for r in entry["roots"])
        elif kind == "iptables-chains":
            for table in IPTABLES_TABLES:
                keep = set(entry["existing"].get(table, []))
                _remove_chains(table, [c for c in _chains(table, entry["prefix"]) if c not in keep])
        elif kind == "command":
            run(*entry["argv"], check=False)
        else:
            raise RuntimeError(f"unknown ledger entry {kind!r}")


def host_snapshot(roots: Sequence[Path] = ()) -> dict[str, Any]:
    """What a real node could leave behind, read from the host itself: compare one taken before
    ``cluster-up`` with one taken after ``cluster-down``."""
    from e2e.cluster.realnode import FIXED_HOST_PATHS, LEDGER_FILE, LOCK_FILE

    def lines(*argv: str) -> list[str]:
        return sorted(run(*argv, check=False).stdout.splitlines())

    def iptables(table: str) -> list[str]:
        # Packet counters and the generated-by header change on their own; the rules are what count.
        return [
            line.split(" [")[0] if line.startswith(":") else line
            for line in lines("iptables-save", "-t", table)
            if not line.startswith("#")
        ]

    return {
        "links": sorted(
            line.split(":")[1].strip().split("@")[0] for line in lines("ip", "-o", "link", "show")
        ),
        "routes": lines("ip", "route", "show", "table", "all"),
        "rules": lines("ip", "rule", "show"),
        "iptables": {t: iptables(t) for t in ("filter", "nat", "mangle", "raw")},
        "sysctls": {k: read_sysctl(k) for k in SAVED_SYSCTLS},
        "mounts": mounts_under([*roots, *FIXED_HOST_PATHS]),
        "cgroups": [str(p) for p in cgroup_dirs("kubepods")],
        "paths": [str(p) for p in (*FIXED_HOST_PATHS, LOCK_FILE, LEDGER_FILE) if p.exists()],
        "processes": sorted(
            pid_name
            # A zombie runs nothing: it waits for its parent (here init, which reaps slowly) to reap it.
            for pid_name in (
                _comm(int(p.name))
                for p in Path("/proc").iterdir()
                if p.name.isdigit() and _proc_state(int(p.name)) not in ("Z", None)
            )
            if pid_name in {"kubelet", "kube-proxy", "containerd", "containerd-shim", "socat", "pause"}
            or pid_name.startswith("containerd-shim")
        ),
    }


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Only what differs, as {key: {"before": ..., "after": ...}}; empty when the host is as it was."""
    diff: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            diff[key] = {"before": before.get(key), "after": after.get(key)}
    return diff
