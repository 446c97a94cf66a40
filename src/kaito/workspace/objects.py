"""Workspace-specific reads over the plain JSON dicts the cache hands out (the generic accessors are
:mod:`kaito.runtime.objects`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kaito.api.constants import LABEL_WORKSPACE, LABEL_WORKSPACE_NAMESPACE
from kaito.runtime.objects import name_of, namespace_of


def workspace_labels(workspace: Mapping[str, Any]) -> dict[str, str]:
    """The labels that tie Machines, Nodes and pods back to their Workspace."""
    return {LABEL_WORKSPACE: name_of(workspace), LABEL_WORKSPACE_NAMESPACE: namespace_of(workspace)}


def stable_hash(value: Any, length: int = 16) -> str:
    """A hash of JSON-able data that does not depend on dict ordering."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
