"""Turn a pydantic model's JSON schema into a Kubernetes structural OpenAPI v3 schema.

Pydantic emits ``$ref``/``$defs``, ``anyOf [X, null]`` for optional fields, titles and ``default:
null``; the apiserver wants every type inlined, no nullable unions and no titles. The conversion is
mechanical, so the models stay the single source of truth.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from kaito.api.cel import VALIDATIONS_KEY

# Keys pydantic emits that have no place in a CRD schema.
_DROPPED_KEYS = frozenset({"title", "$defs", "examples"})
# JSON-schema keys that the apiserver does not accept in a structural schema.
_FORBIDDEN_KEYS = frozenset({"const", "oneOf", "$ref", "allOf", "discriminator"})


class SchemaError(ValueError):
    """The model cannot be expressed as a structural schema."""


def structural_schema(model: type[BaseModel], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The model's schema, inlined and cleaned for ``openAPIV3Schema``.

    ``skip`` names top-level properties left out (the object envelope, which the CRD spells itself).
    """
    raw = model.model_json_schema(by_alias=True, mode="validation", ref_template="#/$defs/{model}")
    raw["properties"] = {k: v for k, v in raw.get("properties", {}).items() if k not in skip}
    if "required" in raw:
        raw["required"] = [k for k in raw["required"] if k not in skip]
    defs: dict[str, Any] = raw.get("$defs", {})
    return _convert(raw, defs, path=model.__name__)


def _clean_description(text: str) -> str:
    # Docstrings wrap at the code's line length; kubectl explain re-wraps, so keep paragraphs only.
    paragraphs = [" ".join(part.split()) for part in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _resolve(name: str, defs: dict[str, Any], path: str) -> dict[str, Any]:
    if name not in defs:
        raise SchemaError(f"{path}: unknown $ref {name!r}")
    target: dict[str, Any] = defs[name]
    return target


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    # Field-level keys (description, default, extra rules) win over the referenced type's, except
    # CEL rules, which add up: the type's own rules and the field's rules both apply.
    result = dict(base)
    for key, value in overlay.items():
        if key == VALIDATIONS_KEY and key in result:
            result[key] = [*result[key], *value]
        else:
            result[key] = value
    return result


def _convert(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = dict(node)
    if "$ref" in node:
        name = node.pop("$ref").rsplit("/", 1)[-1]
        return _convert(_merge(_resolve(name, defs, path), node), defs, path)
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = node.pop("allOf")[0]
        return _convert(_merge(inner, node), defs, path)
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        branches = [b for b in node["anyOf"] if b != {"type": "null"}]
        if len(branches) != 1:
            raise SchemaError(f"{path}: unions are not structural ({node['anyOf']!r})")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if rest.get("default", 0) is None:
            del rest["default"]
        return _convert(_merge(branches[0], rest), defs, path)

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key in _FORBIDDEN_KEYS:
            raise SchemaError(f"{path}: {key!r} cannot appear in a structural schema")
        if key == "default" and value is None:
            continue
        if key == "description":
            out[key] = _clean_description(value)
            continue
        if key == "properties":
            out["properties"] = {
                name: _convert(child, defs, f"{path}.{name}") for name, child in value.items()
            }
        elif key == "items":
            out["items"] = _convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if value is True:
                raise SchemaError(
                    f"{path}: free-form maps need x-kubernetes-preserve-unknown-fields (use Schemaless)"
                )
            if value is not False:
                out["additionalProperties"] = _convert(value, defs, f"{path}{{}}")
        else:
            out[key] = value
    if "anyOf" in out:
        out["anyOf"] = [{k: v for k, v in branch.items() if k != "title"} for branch in out["anyOf"]]
    if (
        "type" not in out
        and not out.get("x-kubernetes-int-or-string")
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        raise SchemaError(f"{path}: schema has no type")
    return out
