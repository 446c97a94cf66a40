"""Kubernetes resource quantities (``16Gi``, ``500m``, ``1e3``): a pydantic type and a parser.

The apiserver may hand back a quantity either as a string or as a bare number, so the model type
accepts both and keeps the canonical string form.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# The apiserver's own quantity grammar (resource.Quantity), used as the CRD pattern too.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)"
    r"|(\.[0-9]+))))?$"
)
_QUANTITY_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)


class QuantityError(ValueError):
    """A string is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float) -> Decimal:
    """The numeric value of a quantity: ``parse_quantity("16Gi") == 17179869184``."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY_RE.match(value.strip())
    if match is None:
        raise QuantityError(f"{value!r} is not a quantity (expected e.g. 16Gi, 500m or 1e9)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex already guarantees a number
        raise QuantityError(f"{value!r} is not a quantity") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * _DECIMAL_SUFFIXES[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def quantity_bytes(value: str | int | float) -> int:
    """A quantity rounded up to a whole number, e.g. bytes of memory."""
    parsed = parse_quantity(value)
    whole = int(parsed)
    return whole if whole == parsed else whole + 1


def format_gib(value: int | Decimal) -> str:
    """Bytes as a short GiB string for messages: ``17179869184 -> '16Gi'``."""
    gib = Decimal(value) / (2**30)
    text = f"{gib:.2f}".rstrip("0").rstrip(".")
    return f"{text}Gi"


def _coerce_quantity(value: Any) -> Any:
    if isinstance(value, bool):
        raise QuantityError("a quantity cannot be a boolean")
    if isinstance(value, int | float):
        value = str(value)
    if isinstance(value, str):
        parse_quantity(value)
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_coerce_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
"""A resource.Quantity: a string in Python, int-or-string in the CRD schema."""
