"""Node choice, expectations, revisions, pod problems and status computation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kaito.workspace.expectations import MachineExpectations
from kaito.workspace.nodes import choose_nodes, selector_matches
from kaito.workspace.podstatus import pod_problem
from kaito.workspace.revision import plan_revisions, spec_hash
from kaito.workspace.status import Observation, ResourceObservation, compute_status, transitions
from kaito.workspace.tuning import published_image

from .fixtures import node, workspace


def test_choose_nodes_prefers_preferred_then_current_and_skips_others() -> None:
    ws = workspace()
    ws["resource"]["count"] = 2
    ws["resource"]["preferredNodes"] = ["c"]
    ws["status"] = {"workerNodes": ["b"]}
    nodes = [
        node("a", {"apps": "ws1"}),
        node("b", {"apps": "ws1"}),
        node("c", {"apps": "ws1"}),
        node("d", {"apps": "other"}),
        node("e", {"apps": "ws1"}, ready=False),
        node("f", {"apps": "ws1", "kaito.sh/workspace": "x", "kaito.sh/workspacenamespace": "default"}),
        node("g", {"apps": "ws1"}, instance_type="Standard_NC24ads_A100_v4"),
    ]
    choice = choose_nodes(ws, nodes)
    assert [n["metadata"]["name"] for n in choice.selected] == ["c", "b"]
    assert choice.usable_names == ["c", "b"]
    no_gpu = choose_nodes(workspace(), [node("z", {"apps": "ws1"}, gpus=0)])
    assert len(no_gpu.selected) == 1 and no_gpu.usable == []


def test_selector_expressions() -> None:
    sel = {
        "matchLabels": {"a": "1"},
        "matchExpressions": [
            {"key": "b", "operator": "In", "values": ["x", "y"]},
            {"key": "c", "operator": "DoesNotExist"},
        ],
    }
    assert selector_matches(sel, {"a": "1", "b": "y"})
    assert not selector_matches(sel, {"a": "1", "b": "z"})
    assert not selector_matches(sel, {"a": "1", "b": "x", "c": "1"})


def test_expectations_block_until_seen_or_timeout() -> None:
    now = [0.0]
    exp = MachineExpectations(timeout=10, clock=lambda: now[0])
    exp.expect("ns/ws", ["m1", "m2"])
    assert not exp.satisfied("ns/ws", lambda n: n == "m1")
    assert exp.pending("ns/ws") == 1
    assert exp.satisfied("ns/ws", lambda n: True)
    exp.expect("ns/ws", ["m3"])
    now[0] = 11
    assert exp.satisfied("ns/ws", lambda n: False)


def test_revisions_keep_ten() -> None:
    ws = workspace()
    digest = spec_hash(ws)
    create, number, prune = plan_revisions(ws, [], digest)
    assert create is not None and number == 1 and prune == []
    assert create["metadata"]["name"] == f"ws1-{digest[:5]}"
    existing = [
        {
            "metadata": {
                "name": f"r{i}",
                "ownerReferences": [{"uid": "uid-ws1"}],
                "annotations": {"workspace.kaito.io/hash": f"h{i}"},
            },
            "revision": i,
        }
        for i in range(1, 11)
    ]
    create, number, prune = plan_revisions(ws, existing, digest)
    assert number == 11 and prune == ["r1"]
    create, number, prune = plan_revisions(ws, existing, "h4")
    assert create is None and number == 4 and prune == []


def test_pod_problems() -> None:
    unsched = {
        "metadata": {"name": "p"},
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes available",
                }
            ]
        },
    }
    assert pod_problem(unsched).reason == "Unschedulable"  # type: ignore[union-attr]
    pull = {
        "metadata": {"name": "p"},
        "status": {
            "containerStatuses": [
                {"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}}}
            ]
        },
    }
    assert pod_problem(pull).reason == "ImagePullBackOff"  # type: ignore[union-attr]
    oom = {
        "metadata": {"name": "p"},
        "status": {
            "containerStatuses": [
                {
                    "name": "c",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "OOMKilled"}},
                }
            ]
        },
    }
    assert pod_problem(oom).reason == "OOMKilled"  # type: ignore[union-attr]
    assert pod_problem({"metadata": {"name": "p"}, "status": {"phase": "Running"}}) is None


def test_status_is_stable_and_transitions_are_events() -> None:
    ws = workspace()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ready_res = ResourceObservation(True, "NodesReady", "1 ready", ["n1"])
    deployment = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "readyReplicas": 0, "updatedReplicas": 1},
    }
    s1 = compute_status(Observation(ws, ready_res, workload=deployment), now=t0)
    assert s1["state"] == "Running"
    conds = {c["type"]: c for c in s1["conditions"]}
    assert conds["ResourceReady"]["status"] == "True" and conds["InferenceReady"]["status"] == "False"
    assert all(c["observedGeneration"] == 1 for c in s1["conditions"])
    ws["status"] = s1
    assert (
        compute_status(Observation(ws, ready_res, workload=deployment), now=datetime(2027, 1, 1, tzinfo=UTC))
        == s1
    )
    deployment["status"]["readyReplicas"] = 1
    s2 = compute_status(Observation(ws, ready_res, workload=deployment), now=datetime(2027, 1, 1, tzinfo=UTC))
    assert s2["state"] == "Ready"
    changes = {t.type: t for t in transitions(ws, s2)}
    # InferenceReady=True came with WorkspaceReady=True, which implies it: one Event, not two.
    assert set(changes) == {"WorkspaceReady"}
    assert conds["ResourceReady"]["lastTransitionTime"] == s2["conditions"][0]["lastTransitionTime"]


def test_tuning_status_from_job() -> None:
    ws = workspace()
    res = ResourceObservation(True, "NodesReady", "ok", ["n1"])
    failed = {
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ]
        }
    }
    s = compute_status(Observation(ws, res, is_tuning=True, job=failed))
    conds = {c["type"]: c for c in s["conditions"]}
    assert s["state"] == "Failed" and conds["WorkspaceReady"]["reason"] == "BackoffLimitExceeded"
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}}
    s = compute_status(Observation(ws, res, is_tuning=True, job=done))
    assert s["state"] == "Succeeded"
    assert {c["type"]: c["status"] for c in s["conditions"]}["WorkspaceReady"] == "True"
    quota = ResourceObservation(False, "QuotaExceeded", "machine ws1: quota", failed=True)
    s = compute_status(Observation(ws, quota))
    assert s["state"] == "Failed"
    assert {c["type"]: c["reason"] for c in s["conditions"]}["ResourceReady"] == "QuotaExceeded"


def _pusher_pod(exit_code: int, message: str) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "message": message}
    return {"status": {"containerStatuses": [{"name": "pusher", "state": {"terminated": terminated}}]}}


def test_a_succeeded_tuning_workspace_publishes_what_its_pusher_pushed() -> None:
    ref = "10.245.0.1:5002/adapters/tiny@sha256:" + "a" * 64
    assert published_image([_pusher_pod(0, ref + "\n")]) == ref
    assert published_image([_pusher_pod(1, "push failed: refused the push (UNAUTHORIZED)")]) is None
    assert published_image([_pusher_pod(0, "pushed it, trust me")]) is None
    ws = workspace()
    res = ResourceObservation(True, "NodesReady", "ok", ["n1"])
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}}
    s = compute_status(Observation(ws, res, is_tuning=True, job=done, published_image=ref))
    assert s["outputImage"] == ref
    assert ref in {c["type"]: c for c in s["conditions"]}["WorkspaceReady"]["message"]
    # The pods may be gone later; what was published stays in the status.
    ws["status"] = s
    assert compute_status(Observation(ws, res, is_tuning=True, job=done))["outputImage"] == ref


def _conds(**conds: tuple[str, str]) -> dict[str, Any]:
    return {
        "conditions": [{"type": t, "status": st, "reason": r, "message": "m"} for t, (st, r) in conds.items()]
    }


def test_events_are_failures_recoveries_and_outcomes() -> None:
    def news(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, str, bool]]:
        return {(t.type, t.status, t.warning) for t in transitions({"status": old}, new)}

    pending = _conds(ResourceReady=("True", "NodesReady"), WorkspaceReady=("False", "WorkloadNotReady"))
    # A step done on the way is no news; the outcome is.
    assert news({}, pending) == set()
    ready = _conds(ResourceReady=("True", "NodesReady"), WorkspaceReady=("True", "WorkspaceReady"))
    assert news(pending, ready) == {("WorkspaceReady", "True", False)}
    # A failure is a Warning, its recovery is news, and a Ready workspace going back to pending is news.
    failed = _conds(ResourceReady=("False", "QuotaExceeded"), WorkspaceReady=("False", "WorkloadNotReady"))
    assert news(pending, failed) == {("ResourceReady", "False", True)}
    assert news(failed, pending) == {("ResourceReady", "True", False)}
    assert news(ready, pending) == {("WorkspaceReady", "False", False)}


def test_indexed_candidates_choose_what_a_full_scan_chooses() -> None:
    from kaito.runtime import Cache, Client
    from kaito.runtime.client import Transport
    from kaito.runtime.client.connection import NativeConnection
    from kaito.workspace import kinds

    cache = Cache(Client(Transport(NativeConnection("http://127.0.0.1:1"), qps=0, burst=0)))
    store = cache.informer(kinds.NODE).store
    for i in range(30):
        n = node(f"n{i}", {"apps": f"ws{i % 3}", "pool": "a" if i % 2 else "b"})
        store.put(n["metadata"]["name"], n)
    cache.index_all_labels(kinds.NODE)
    ws = workspace()
    ws["resource"]["count"] = 3
    for selector, candidates in (({"apps": "ws1", "pool": "a"}, 5), ({"apps": "ws2"}, 10)):
        ws["resource"]["labelSelector"] = {"matchLabels": selector}
        indexed = cache.list(kinds.NODE, label_selector=selector)
        assert len(indexed) == candidates
        assert choose_nodes(ws, indexed).selected == choose_nodes(ws, cache.list(kinds.NODE)).selected


def test_only_pod_events_that_change_the_reported_problem_reach_the_queue() -> None:
    from kaito.workspace.controller import pod_problem_changed

    pending = {"metadata": {"name": "p"}, "status": {"phase": "Pending"}}
    running = {"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [{"type": "Ready"}]}}
    pulling = {
        "metadata": {"name": "p"},
        "status": {
            "containerStatuses": [
                {"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}
            ]
        },
    }
    pred = pod_problem_changed()
    assert not pred.create(pending) and not pred.update(pending, running), "routine progress: no reconcile"
    assert pred.create(pulling) and pred.update(pending, pulling), "a problem appears"
    assert pred.update(pulling, running) and pred.delete(pulling), "a problem goes away"
    assert not pred.delete(running)
