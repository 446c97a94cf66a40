"""The dict-based Kubernetes client: kinds, discovery, CRUD/patch/apply/status, watch, typed helpers."""

from kaito.runtime.client import kinds
from kaito.runtime.client.client import Client, PatchType, WatchEvent
from kaito.runtime.client.config import load_api_client
from kaito.runtime.client.discovery import Discovery, UnknownKindError
from kaito.runtime.client.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
    TooManyRequestsError,
    is_conflict,
    is_not_found,
)
from kaito.runtime.client.kind import Kind, object_key
from kaito.runtime.client.transport import RequestStats, Transport
from kaito.runtime.client.typed import TypedClient, from_dict, to_dict

__all__ = [
    "AlreadyExistsError",
    "ApiError",
    "Client",
    "ConflictError",
    "Discovery",
    "GoneError",
    "InvalidError",
    "Kind",
    "NotFoundError",
    "PatchType",
    "RequestStats",
    "TooManyRequestsError",
    "Transport",
    "TypedClient",
    "UnknownKindError",
    "WatchEvent",
    "from_dict",
    "is_conflict",
    "is_not_found",
    "kinds",
    "load_api_client",
    "object_key",
    "to_dict",
]
