"""Object accessors, conditions with metav1 semantics, and Kubernetes timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from kaito.runtime import kinds
from kaito.runtime.conditions import make_condition, set_condition
from kaito.runtime.objects import (
    annotations_of,
    condition_is,
    conditions_of,
    controller_owner,
    created_at,
    finalizers_of,
    find_condition,
    generation_of,
    get_path,
    is_controlled_by,
    is_deleting,
    labels_of,
    name_of,
    namespace_of,
    node_is_ready,
    owner_reference,
    resource_version_of,
    uid_of,
)
from kaito.runtime.timefmt import micro_time, parse_time, rfc3339

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)


def test_accessors_read_metadata_and_tolerate_missing_parts() -> None:
    obj = {
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "uid": "u1",
            "generation": 3,
            "resourceVersion": "42",
            "labels": {"a": "b"},
            "annotations": {"c": "d"},
            "finalizers": ["f"],
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "deletionTimestamp": "2026-01-02T00:00:00Z",
        },
        "spec": {"x": {"y": 1}},
    }
    assert (name_of(obj), namespace_of(obj), uid_of(obj)) == ("w", "ns", "u1")
    assert (generation_of(obj), resource_version_of(obj)) == (3, "42")
    assert (labels_of(obj), annotations_of(obj), finalizers_of(obj)) == ({"a": "b"}, {"c": "d"}, ["f"])
    assert is_deleting(obj) and created_at(obj) == T0
    assert get_path(obj, "spec", "x", "y") == 1 and get_path(obj, "spec", "nope", "y") is None
    empty: dict[str, object] = {}
    assert (name_of(empty), namespace_of(empty), generation_of(empty)) == ("", "", 0)
    assert (labels_of(empty), annotations_of(empty), finalizers_of(empty)) == ({}, {}, [])
    assert not is_deleting(empty) and created_at(empty) is None


def test_owner_references() -> None:
    owner = {"metadata": {"name": "d", "uid": "u"}}
    ref = owner_reference(kinds.DEPLOYMENT, owner)
    owned = {"metadata": {"ownerReferences": [{"uid": "other"}, ref]}}
    assert controller_owner(owned) == ref
    assert is_controlled_by(owned, owner)
    assert not is_controlled_by(owned, {"metadata": {"uid": "someone"}})
    assert not is_controlled_by({"metadata": {}}, owner)


def test_conditions_and_node_readiness() -> None:
    node = {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}]}}
    assert not node_is_ready(node) and not node_is_ready({})
    node["status"]["conditions"].append({"type": "Ready", "status": "True"})
    assert node_is_ready(node)
    assert condition_is(conditions_of(node), "MemoryPressure", "False")
    assert find_condition(conditions_of(node), "Nope") is None


def test_set_condition_moves_the_transition_time_only_when_status_changes() -> None:
    conds = set_condition(None, "Ready", "False", now=T0, reason="Pending", message="waiting")
    conds = set_condition(conds, "Ready", "False", now=T1, reason="Pending", message="still")
    assert conds == [
        {
            "type": "Ready",
            "status": "False",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "reason": "Pending",
            "message": "still",
        }
    ]
    conds = set_condition(conds, "Other", "Unknown", now=T1, observed_generation=2)
    conds = set_condition(conds, "Ready", "True", now=T1, reason="Ready", message="")
    ready = find_condition(conds, "Ready")
    assert ready is not None and ready["lastTransitionTime"] == "2026-01-02T00:00:00Z"
    assert ready["message"] == ""  # metav1.Condition requires message; empty is written, None is not
    assert [c["type"] for c in conds] == ["Ready", "Other"]  # order kept
    assert conds[1] == {
        "type": "Other",
        "status": "Unknown",
        "observedGeneration": 2,
        "lastTransitionTime": "2026-01-02T00:00:00Z",
    }


def test_make_condition_truncates_and_drops_empty_extras() -> None:
    cond = make_condition(
        None, "Launched", "False", now=T0, message="x" * 50, max_message_len=10, severity=""
    )
    assert cond["message"] == "x" * 10 and "severity" not in cond
    assert make_condition(None, "Launched", "False", now=T0, severity="Warning")["severity"] == "Warning"


def test_timestamps_round_trip() -> None:
    assert rfc3339(T0) == "2026-01-01T00:00:00Z"
    assert micro_time(T0 + timedelta(microseconds=5)) == "2026-01-01T00:00:00.000005Z"
    plus_two = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2026, 1, 1, 2, tzinfo=plus_two)) == "2026-01-01T00:00:00Z"
    assert parse_time("2026-01-01T00:00:00Z") == T0
    assert parse_time("2026-01-01T00:00:00.000005Z") == T0 + timedelta(microseconds=5)
    assert parse_time("2026-01-01T00:00:00") == T0  # naive is UTC
    assert parse_time(None) is None and parse_time("soon") is None
