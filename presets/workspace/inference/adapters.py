"""LoRA adapters found under the adapters directory, with their strengths.

The workspace controller copies each adapter into `<adapters_dir>/<name>` with an init
container and sets an env var `<name>=<strength>` on the server container.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
