"""Label keys, values and selectors, validated the way the apiserver validates them
(k8s.io/apimachinery validation.IsQualifiedName / IsValidLabelValue, ValidateLabelSelector)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SET_OPERATORS = ("In", "NotIn")
_EXISTENCE_OPERATORS = ("Exists", "DoesNotExist")
# Label prefixes Kubernetes reserves for itself (and their subdomains, e.g. node.kubernetes.io).
RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key, or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in prefix:
        return f"{key!r} is not a valid label key: at most one '/' ([prefix/]name)"
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"{key!r} is not a valid label key: the name part must be 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return f"{key!r} is not a valid label key: the prefix must be a lower-case DNS subdomain"
    return None


def value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None."""
    if len(value) > 63 or not _VALUE.match(value):
        return (
            f"{value!r} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting "
            "and ending with a letter or digit (or empty)"
        )
    return None


def is_reserved(key: str) -> bool:
    """Whether ``key`` is under a prefix Kubernetes reserves (``kubernetes.io/``, ``k8s.io/``, subdomains)."""
    prefix, slash, _ = key.rpartition("/")
    if not slash:
        return False
    return any(prefix == domain or prefix.endswith("." + domain) for domain in RESERVED_LABEL_DOMAINS)


def selector_problems(selector: Mapping[str, Any], path: str) -> list[str]:
    """Problems with a metav1.LabelSelector, each prefixed with the field path under ``path``."""
    problems: list[str] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        where = f"{path}.matchLabels[{key!r}]"
        problems += [f"{where}: {p}" for p in (key_problem(str(key)), value_problem(str(value))) if p]
    for index, expr in enumerate(selector.get("matchExpressions") or []):
        where = f"{path}.matchExpressions[{index}]"
        key = str(expr.get("key") or "")
        operator = expr.get("operator")
        values = list(expr.get("values") or [])
        problem = key_problem(key)
        if problem:
            problems.append(f"{where}.key: {problem}")
        if operator in _SET_OPERATORS and not values:
            problems.append(f"{where}.values: must be non-empty when operator is {operator}")
        elif operator in _EXISTENCE_OPERATORS and values:
            problems.append(f"{where}.values: must be empty when operator is {operator}")
        elif operator not in _SET_OPERATORS + _EXISTENCE_OPERATORS:
            problems.append(f"{where}.operator: {operator!r} is not one of In, NotIn, Exists, DoesNotExist")
        for v_index, value in enumerate(values):
            problem = value_problem(str(value))
            if problem:
                problems.append(f"{where}.values[{v_index}]: {problem}")
    return problems


def stamped_labels(selector: Mapping[str, Any] | None) -> dict[str, str]:
    """The labels a provisioned node gets so that it matches ``selector``: matchLabels, and for
    ``In``/``Exists`` expressions a value that satisfies them. Keys Kubernetes reserves are never
    stamped: they mean things to the kubelet, the scheduler and admission (node-role, topology,
    node-restriction), and a Workspace author must not be able to set them on a node."""
    if not selector:
        return {}
    labels = {k: str(v) for k, v in (selector.get("matchLabels") or {}).items()}
    for expr in selector.get("matchExpressions") or []:
        key = str(expr.get("key") or "")
        if key in labels:
            continue
        values = list(expr.get("values") or [])
        if expr.get("operator") == "In" and values:
            labels[key] = str(values[0])
        elif expr.get("operator") == "Exists":
            labels[key] = "true"
    return {k: v for k, v in labels.items() if not is_reserved(k)}
