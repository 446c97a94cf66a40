"""LoRA adapters found under the adapters directory, with their strengths.

The workspace controller copies each adapter into `<adapters_dir>/<name>` with an init
container and sets an env var `<name>=<strength>` on the server container. Both backends serve
every adapter found, weighted by its strength: transformers through peft's weighted adapter,
vLLM (which applies one LoRA per request and cannot weight) through :func:`combine`, which
writes the weighted sum of all adapters as one LoRA adapter.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AdapterSpec:
    name: str
    path: Path
    strength: float


def discover_adapters(adapters_dir: str, environ: dict[str, str] | None = None) -> list[AdapterSpec]:
    env = dict(os.environ) if environ is None else environ
    root = Path(adapters_dir)
    if not root.is_dir():
        return []
    found: list[AdapterSpec] = []
    for child in sorted(root.iterdir()):
        if not (child / "adapter_config.json").is_file():
            continue
        raw = env.get(child.name, "1.0")
        try:
            strength = float(raw)
        except ValueError as err:
            raise ValueError(f"adapter {child.name!r}: strength {raw!r} in env is not a number") from err
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"adapter {child.name!r}: strength {strength} must be within [0, 1]")
        found.append(AdapterSpec(name=child.name, path=child, strength=strength))
    return found


class AdapterError(ValueError):
    pass


def _scaling(config: dict[str, Any]) -> float:
    r = int(config.get("r") or 8)
    alpha = float(config.get("lora_alpha") or r)
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def combine(adapters: list[AdapterSpec], out_dir: Path) -> Path:
    """Writes one LoRA adapter whose weight change is exactly ``sum(strength_i * delta_i)``.

    The ranks are concatenated ("cat"): for every module, A stacks each adapter's ``strength * scaling *
    A_i`` (zero rows where an adapter does not touch the module) and B places the B_i side by side, with
    ``lora_alpha = r`` so that the combined scaling is 1. Nothing is approximated, unlike an SVD merge.
    Adapters that are more than LoRA matrices (DoRA, modules_to_save, bias) are refused by name."""
    import torch
    from safetensors.torch import load_file, save_file

    configs: list[dict[str, Any]] = []
    tensors: list[dict[str, Any]] = []
    for spec in adapters:
        config = json.loads((spec.path / "adapter_config.json").read_text())
        unsupported = [k for k in ("use_dora", "modules_to_save") if config.get(k)]
        if config.get("bias") not in (None, "none"):
            unsupported.append("bias")
        if config.get("peft_type", "LORA") != "LORA" or unsupported:
            what = ", ".join(unsupported) or str(config.get("peft_type"))
            raise AdapterError(f"adapter {spec.name!r}: {what} cannot be combined with other adapters")
        weights = spec.path / "adapter_model.safetensors"
        if not weights.is_file():
            raise AdapterError(f"adapter {spec.name!r}: {weights.name} is missing")
        configs.append(config)
        tensors.append(load_file(str(weights)))
    ranks = [int(c.get("r") or 8) for c in configs]
    total = sum(ranks)
    modules = sorted({k.rsplit(".lora_", 1)[0] for t in tensors for k in t if ".lora_A." in k})
    out: dict[str, Any] = {}
    for module in modules:
        a_key, b_key = f"{module}.lora_A.weight", f"{module}.lora_B.weight"
        shapes = [(t[a_key].shape[1], t[b_key].shape[0]) for t in tensors if a_key in t]
        fan_in, fan_out = shapes[0]
        a_parts, b_parts = [], []
        for spec, config, rank, t in zip(adapters, configs, ranks, tensors, strict=True):
            if a_key in t:
                factor = spec.strength * _scaling(config)
                a_parts.append(t[a_key].float() * factor)
                b_parts.append(t[b_key].float())
            else:
                a_parts.append(torch.zeros(rank, fan_in))
                b_parts.append(torch.zeros(fan_out, rank))
        out[a_key] = torch.cat(a_parts, dim=0).contiguous()
        out[b_key] = torch.cat(b_parts, dim=1).contiguous()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(out, str(out_dir / "adapter_model.safetensors"))
    # Named by the modules actually adapted: a config's target_modules may be a regex.
    targets = sorted({m.rsplit(".", 1)[-1] for m in modules})
    base = dict(configs[0])
    base.update(
        r=total,
        lora_alpha=total,
        use_rslora=False,
        target_modules=targets,
        rank_pattern={},
        alpha_pattern={},
        lora_dropout=0.0,
    )
    (out_dir / "adapter_config.json").write_text(json.dumps(base, indent=1))
    return out_dir
