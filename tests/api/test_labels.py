"""Label keys, values and selectors validated as the apiserver does; what provisioned nodes get stamped."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api.labels import is_reserved, selector_problems, stamped_labels


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "matchExpressions[0].values: must be non-empty",
        ),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]}, "non-empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "must be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]}, "must be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, "operator"),
        ({"matchExpressions": [{"key": "a/b/c", "operator": "Exists"}]}, "matchExpressions[0].key"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["-x"]}]}, "values[0]"),
        ({"matchLabels": {"Example.COM/a": "x"}}, "prefix"),
        ({"matchLabels": {"a" * 64: "x"}}, "label key"),
        ({"matchLabels": {"a": "x" * 64}}, "label value"),
        ({"matchLabels": {"/a": "x"}}, "prefix"),
    ],
)
def test_selector_problems(selector: dict[str, Any], fragment: str) -> None:
    problems = selector_problems(selector, "resource.labelSelector")
    assert problems and all(p.startswith("resource.labelSelector.") for p in problems)
    assert any(fragment in p for p in problems), problems


def test_valid_selectors() -> None:
    for selector in (
        {"matchLabels": {"app": "x", "example.com/team": "", "a.b_c-d": "V.1"}},
        {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
        {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a", "b"]}]},
    ):
        assert selector_problems(selector, "s") == []


def test_reserved_keys() -> None:
    for key in (
        "kubernetes.io/os",
        "node.kubernetes.io/instance-type",
        "k8s.io/x",
        "node-role.kubernetes.io/a",
    ):
        assert is_reserved(key)
    for key in ("app", "kaito.sh/workspace", "example.com/kubernetes.io", "notkubernetes.io/a"):
        assert not is_reserved(key)


def test_stamped_labels_match_the_selector_without_reserved_keys() -> None:
    selector = {
        "matchLabels": {"app": "x", "node-role.kubernetes.io/control-plane": ""},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["gpu", "big"]},
            {"key": "team", "operator": "Exists"},
            {"key": "spot", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "NotIn", "values": ["a"]},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]},
        ],
    }
    assert stamped_labels(selector) == {"app": "x", "tier": "gpu", "team": "true"}
