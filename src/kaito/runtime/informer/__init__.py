"""Informers: list+watch loops keeping an indexed local store in sync and notifying handlers."""

from kaito.runtime.informer.handler import EventHandler, HandlerFuncs
from kaito.runtime.informer.informer import Informer, strip_managed_fields
from kaito.runtime.informer.selector import LabelSelector
from kaito.runtime.informer.store import (
    NAMESPACE_INDEX,
    OWNER_INDEX,
    IndexFunc,
    Store,
    index_by_field,
    index_by_label,
    index_by_namespace,
    index_by_owner,
)

__all__ = [
    "NAMESPACE_INDEX",
    "OWNER_INDEX",
    "EventHandler",
    "HandlerFuncs",
    "IndexFunc",
    "Informer",
    "LabelSelector",
    "Store",
    "index_by_field",
    "index_by_label",
    "index_by_namespace",
    "index_by_owner",
    "strip_managed_fields",
]
