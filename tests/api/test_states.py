"""Every state the workspace controller writes must be one the CRD accepts: a state the apiserver rejects
fails the status write, and on the deletion path that used to keep the finalizer (and the GPU nodes)."""

from __future__ import annotations

from typing import get_args

import yaml

from kaito.api.constants import WORKSPACE_STATES
from kaito.api.workspace.types import WorkspaceState
from kaito.workspace import names
from tests.api.test_crd_generation import CRD_DIR


def test_controller_states_are_accepted_by_the_crd() -> None:
    written = {v for k, v in vars(names).items() if k.startswith("STATE_") and isinstance(v, str)}
    crd = yaml.safe_load((CRD_DIR / "kaito.sh_workspaces.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    enum = set(schema["properties"]["state"]["enum"])
    assert written <= enum, f"states the CRD rejects: {written - enum}"
    assert set(get_args(WorkspaceState)) == enum == set(WORKSPACE_STATES)
