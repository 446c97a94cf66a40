"""Label selectors: parsing the string form and matching labels locally (for cached lists)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9._/-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed selector; ``str(sel)`` gives the canonical string the apiserver accepts."""

    requirements: tuple[Requirement, ...]
    text: str

    @classmethod
    def parse(cls, selector: str | Mapping[str, str] | None) -> LabelSelector:
        """Parses ``"a=b,c!=d,e in (x,y),!f,g"`` or an equality dict. Raises ValueError on bad syntax."""
        if selector is None:
            return cls((), "")
        if not isinstance(selector, str):
            reqs = tuple(Requirement(k, "in", frozenset([v])) for k, v in sorted(selector.items()))
            return cls(reqs, ",".join(f"{k}={v}" for k, v in sorted(selector.items())))
        reqs_list: list[Requirement] = []
        for part in _split_top_level(selector):
            eq = _EQ_RE.match(part)
            if eq:
                key, op, value = eq.groups()
                reqs_list.append(Requirement(key, "notin" if op == "!=" else "in", frozenset([value])))
                continue
            st = _SET_RE.match(part)
            if not st:
                raise ValueError(f"invalid label selector term {part!r}")
            neg, key, setop, values = st.groups()
            if setop:
                if neg:
                    raise ValueError(f"invalid label selector term {part!r}")
                vals = frozenset(v.strip() for v in values.split(",") if v.strip())
                reqs_list.append(Requirement(key, setop, vals))
            else:
                reqs_list.append(Requirement(key, "!exists" if neg else "exists"))
        return cls(tuple(reqs_list), selector.strip())

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return self.text
