"""Store indexes, label selectors and cache reads, without a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.runtime import Cache, Client, KindNotCachedError, LabelSelector, kinds, owner_reference
from kaito.runtime.client import Transport
from kaito.runtime.client.connection import NativeConnection
from kaito.runtime.informer import Store, index_by_field, index_by_label, index_by_namespace, index_by_owner


def obj(
    name: str, ns: str | None = "ns", labels: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if ns:
        meta["namespace"] = ns
    return {"metadata": meta, **extra}


def test_label_selector_parsing_and_matching() -> None:
    sel = LabelSelector.parse("app=web,tier!=db,env in (prod, staging),!legacy,team")
    assert sel.matches({"app": "web", "env": "prod", "team": "a"})
    assert not sel.matches({"app": "web", "env": "prod", "team": "a", "legacy": "1"})
    assert not sel.matches({"app": "web", "env": "dev", "team": "a"})
    assert not sel.matches({"app": "web", "tier": "db", "env": "prod", "team": "a"})
    assert LabelSelector.parse("x notin (a,b)").matches({"x": "c"})
    assert LabelSelector.parse("x notin (a,b)").matches({})
    assert LabelSelector.parse("a==b").matches({"a": "b"})
    assert LabelSelector.parse({"a": "b"}).matches({"a": "b", "c": "d"})
    assert str(LabelSelector.parse({"b": "2", "a": "1"})) == "a=1,b=2"
    assert LabelSelector.parse(None).empty
    with pytest.raises(ValueError):
        LabelSelector.parse("a in b")


def test_store_indexes_follow_updates_and_deletes() -> None:
    store = Store({"ns": index_by_namespace, "owner": index_by_owner, "app": index_by_label("app")})
    store.put("ns/a", obj("a", labels={"app": "x"}, metadata_extra=1))
    store.put("ns/b", obj("b", labels={"app": "x"}))
    assert [o["metadata"]["name"] for o in store.by_index("app", "x")] == ["a", "b"]
    store.put("ns/a", obj("a", labels={"app": "y"}))
    assert store.index_keys("app", "x") == ["ns/b"]
    assert store.index_keys("app", "y") == ["ns/a"]
    store.delete("ns/b")
    assert store.index_keys("app", "x") == []
    assert store.index_keys("ns", "ns") == ["ns/a"]
    store.add_indexer("node", index_by_field("spec.nodeName"))
    store.put("ns/p", obj("p", spec={"nodeName": "n1"}))
    assert store.index_keys("node", "n1") == ["ns/p"]
    store.replace({"ns/z": obj("z")})
    assert store.keys() == ["ns/z"] and store.index_keys("node", "n1") == []
    with pytest.raises(KeyError):
        store.index_keys("missing", "x")
    owned = obj("o")
    owned["metadata"]["ownerReferences"] = [{"uid": "u1"}, {"uid": "u2"}]
    store.put("ns/o", owned)
    assert store.index_keys("owner", "u2") == ["ns/o"]


def test_cache_reads_from_informer_store() -> None:
    client = Client(Transport(NativeConnection("http://127.0.0.1:1"), qps=0, burst=0))
    cache = Cache(client)
    with pytest.raises(KindNotCachedError):
        cache.get(kinds.CONFIGMAP, "ns", "a")
    inf = cache.informer(kinds.CONFIGMAP)
    assert cache.informer(kinds.CONFIGMAP) is inf, "one shared informer per kind"
    inf.store.put("ns/a", obj("a", labels={"app": "x"}))
    inf.store.put("other/b", obj("b", ns="other", labels={"app": "y"}))
    cache.index_field(kinds.CONFIGMAP, "app", index_by_label("app"))
    assert cache.get(kinds.CONFIGMAP, "ns", "a") is not None
    assert cache.get(kinds.CONFIGMAP, "ns", "b") is None
    assert len(cache.list(kinds.CONFIGMAP)) == 2
    assert [o["metadata"]["name"] for o in cache.list(kinds.CONFIGMAP, "other")] == ["b"]
    assert [o["metadata"]["name"] for o in cache.list(kinds.CONFIGMAP, label_selector="app=x")] == ["a"]
    assert [o["metadata"]["name"] for o in cache.list(kinds.CONFIGMAP, label_selector={"app": "y"})] == ["b"]
    assert [o["metadata"]["name"] for o in cache.list(kinds.CONFIGMAP, index=("app", "y"))] == ["b"]
    assert cache.list(kinds.CONFIGMAP, "ns", index=("app", "y")) == []
    nodes = cache.informer(kinds.NODE)
    nodes.store.put("n1", obj("n1", ns=None))
    assert cache.get(kinds.NODE, None, "n1") is not None
    assert not cache.has_synced


def test_owner_reference() -> None:
    ref = owner_reference(kinds.DEPLOYMENT, {"metadata": {"name": "d", "uid": "u"}})
    assert ref == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "d",
        "uid": "u",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    with pytest.raises(ValueError):
        owner_reference(kinds.DEPLOYMENT, {"metadata": {"name": "d"}})


def test_kind_paths() -> None:
    assert kinds.POD.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert kinds.DEPLOYMENT.path() == "/apis/apps/v1/deployments"
    assert kinds.NODE.path("ignored", "n") == "/api/v1/nodes/n"
    assert kinds.DEPLOYMENT.api_version == "apps/v1" and kinds.POD.api_version == "v1"
    assert kinds.DEPLOYMENT.matches({"apiVersion": "apps/v1beta1", "kind": "Deployment"})
    assert kinds.CONFIGMAP.stamp({"metadata": {}})["apiVersion"] == "v1"


def test_label_index_serves_equality_selectors() -> None:
    client = Client(Transport(NativeConnection("http://127.0.0.1:1"), qps=0, burst=0))
    cache = Cache(client)
    pods = cache.informer(kinds.POD)
    for i in range(50):
        pods.store.put(f"ns/p{i}", obj(f"p{i}", labels={"ws": f"w{i % 5}", "tier": "a" if i % 2 else "b"}))
    pods.store.put("other/q", obj("q", ns="other", labels={"ws": "w1", "tier": "a"}))
    unindexed = {
        sel: sorted(o["metadata"]["name"] for o in cache.list(kinds.POD, "ns", label_selector=sel))
        for sel in ("ws=w1", "ws=w1,tier=a", "ws in (w1,w2)", "ws!=w1,tier=b", "tier=a")
    }
    cache.index_label(kinds.POD, "ws")
    # The bucket read gives exactly what testing every object gave, namespace and other terms included.
    for sel, names in unindexed.items():
        assert sorted(o["metadata"]["name"] for o in cache.list(kinds.POD, "ns", label_selector=sel)) == names
    assert len(unindexed["ws=w1"]) == 10
    assert [o["metadata"]["name"] for o in cache.list(kinds.POD, "other", label_selector={"ws": "w1"})] == [
        "q"
    ]
    # Reads the bucket, not the store: an object the index does not list is not returned.
    assert pods.store.index_keys("label:ws", "w1")[0] == "ns/p1"
    pods.store.put("ns/p1", obj("p1", labels={"ws": "w4"}))
    assert "p1" not in [o["metadata"]["name"] for o in cache.list(kinds.POD, "ns", label_selector="ws=w1")]


def test_all_labels_index_serves_any_equality_selector() -> None:
    client = Client(Transport(NativeConnection("http://127.0.0.1:1"), qps=0, burst=0))
    cache = Cache(client)
    nodes = cache.informer(kinds.NODE)
    for i in range(40):
        nodes.store.put(f"n{i}", obj(f"n{i}", ns=None, labels={"pool": f"p{i % 4}", "zone": f"z{i % 5}"}))
    selectors = ("pool=p1", "zone=z2,pool=p2", "pool in (p1,p3)", "zone!=z0")
    scanned = {
        sel: sorted(o["metadata"]["name"] for o in cache.list(kinds.NODE, label_selector=sel))
        for sel in selectors
    }
    cache.index_all_labels(kinds.NODE)
    for sel, names in scanned.items():
        assert sorted(o["metadata"]["name"] for o in cache.list(kinds.NODE, label_selector=sel)) == names
    assert nodes.store.index_keys("labels", "pool=p1") == sorted(f"n{i}" for i in range(1, 40, 4))
