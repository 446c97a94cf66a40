"""Workspaces the API and webhook tests start from (a seed tuning Workspace, a valid inference one)."""

from __future__ import annotations

import copy
from typing import Any

import yaml

SEED_YAML = """\
apiVersion: kaito.sh/v1alpha1
kind: Workspace
metadata:
  name: workspace-tuning-phi-3
resource:
  instanceType: "Standard_NC6s_v3"
  labelSelector:
    matchLabels:
      app: tuning-phi-3
tuning:
  preset:
    name: phi-3-mini-128k-instruct
  method: qlora
  input:
    urls:
      - "https://huggingface.co/datasets/philschmid/dolly-15k-oai-style/resolve/main/data/train-00000-of-00001-54e3756291ca09c6.parquet?download=true"
  output:
    image: "myregistry.azurecr.io/phi-3-adapter:0.0.1"
    imagePushSecret: ACR_REGISTRY_SECRET_HERE
"""

INFERENCE_YAML = """\
apiVersion: kaito.sh/v1alpha1
kind: Workspace
metadata:
  name: workspace-phi-3-mini
resource:
  instanceType: "Standard_NC6s_v3"
  labelSelector:
    matchLabels:
      apps: phi-3
inference:
  preset:
    name: phi-3-mini-4k-instruct
"""


def seed() -> dict[str, Any]:
    """A fresh copy of the seed tuning Workspace."""
    return copy.deepcopy(yaml.safe_load(SEED_YAML))


def inference() -> dict[str, Any]:
    """A fresh copy of a valid inference Workspace."""
    return copy.deepcopy(yaml.safe_load(INFERENCE_YAML))
