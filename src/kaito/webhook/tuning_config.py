"""Shape checks for a tuning ConfigMap's ``training_config.yaml``.

The tuning Job reads this file only after a GPU node has been provisioned and the image pulled; a
typo found then costs tens of minutes and a GPU bill, so the webhook checks the shape up front.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

import yaml

CONFIG_KEY = "training_config.yaml"
TOP_LEVEL_KEY = "training_config"
KNOWN_SECTIONS = (
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DatasetConfig",
    "DataCollator",
)
OUTPUT_ROOT = "/mnt"


def yaml_position(exc: yaml.YAMLError) -> str:
    """`` at line L, column C`` of a YAML error, without the snippet of the document PyYAML quotes."""
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def check_training_config(data: Mapping[str, str], method: str, field: str = "tuning.config") -> list[str]:
    """Problems with a ConfigMap's data for ``method`` (lora/qlora); each names the field."""
    # The webhook reads the ConfigMap with its own rights, not the caller's: its answers name what is
    # wrong and where, never the ConfigMap's other keys or any of its contents.
    if CONFIG_KEY not in data:
        return [f"{field}: the ConfigMap must have the key {CONFIG_KEY}"]
    where = f"{field} ({CONFIG_KEY})"
    try:
        document: Any = yaml.safe_load(data[CONFIG_KEY])
    except yaml.YAMLError as exc:
        return [f"{where}: not valid YAML{yaml_position(exc)}"]
    if not isinstance(document, dict) or not isinstance(document.get(TOP_LEVEL_KEY), dict):
        return [f"{where}: must be a mapping with a top-level '{TOP_LEVEL_KEY}:' mapping of sections"]
    sections: dict[str, Any] = document[TOP_LEVEL_KEY]
    problems: list[str] = []
    for name, body in sections.items():
        if name not in KNOWN_SECTIONS:
            problems.append(
                f"{where}: unknown section {TOP_LEVEL_KEY}.{name}; accepted sections: "
                f"{', '.join(KNOWN_SECTIONS)}"
            )
        elif body is not None and not isinstance(body, dict):
            problems.append(f"{where}: {TOP_LEVEL_KEY}.{name} must be a mapping")
    problems += _check_quantization(sections.get("QuantizationConfig"), method, where)
    problems += _check_output_dir(sections.get("TrainingArguments"), where)
    return problems


def _check_quantization(section: Any, method: str, where: str) -> list[str]:
    section = section if isinstance(section, dict) else {}
    path = f"{TOP_LEVEL_KEY}.QuantizationConfig"
    flags: dict[str, bool] = {}
    problems: list[str] = []
    for key in ("load_in_4bit", "load_in_8bit"):
        value = section.get(key, False)
        if not isinstance(value, bool):
            problems.append(f"{where}: {path}.{key} must be true or false, not a {type(value).__name__}")
            value = False
        flags[key] = value
    if problems:
        return problems
    if flags["load_in_4bit"] and flags["load_in_8bit"]:
        return [f"{where}: {path}: load_in_4bit and load_in_8bit cannot both be true; set one"]
    quantized = flags["load_in_4bit"] or flags["load_in_8bit"]
    if method == "lora" and quantized:
        return [
            f"{where}: {path}: method lora loads the model unquantised; set load_in_4bit and "
            "load_in_8bit to false, or use method qlora"
        ]
    if method == "qlora" and not quantized:
        return [
            f"{where}: {path}: method qlora needs a quantised model; set load_in_4bit: true "
            "(or load_in_8bit: true), or use method lora"
        ]
    return []


def _check_output_dir(section: Any, where: str) -> list[str]:
    if not isinstance(section, dict) or "output_dir" not in section:
        return []
    path = f"{TOP_LEVEL_KEY}.TrainingArguments.output_dir"
    value = section["output_dir"]
    if not isinstance(value, str) or not value:
        return [f"{where}: {path} must be a path string under {OUTPUT_ROOT}/, e.g. /mnt/results"]
    resolved = posixpath.normpath(posixpath.join(OUTPUT_ROOT, value))
    if not resolved.startswith(OUTPUT_ROOT + "/"):
        return [
            f"{where}: {path} {value!r} resolves to {resolved}, outside {OUTPUT_ROOT}; use a "
            f"directory under {OUTPUT_ROOT}/, e.g. /mnt/results"
        ]
    return []
